//! The hub as the domain's `InboxNotifier`: a thread that changed is announced, by id, to the
//! staff screens of its site here and, through the relay, on the other servers.

use domain::messaging::{InboxNotifier, Thread};

use super::hub::Hub;
use super::relay_protocol::RelayMessage;

impl InboxNotifier for Hub {
    fn thread_changed(&self, t: &Thread) {
        self.thread_frame(t.org_id, t.site_id, t.clinician_id, t.id);
        self.publish(RelayMessage::Thread {
            org: t.org_id,
            site: t.site_id,
            clinician: t.clinician_id,
            thread: t.id,
        });
    }
}
