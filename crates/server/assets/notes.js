// Visit notes: saves the draft a few seconds after the clinician stops typing, and suggests
// ICD-10-CM codes as they type one. Without this file the Save and Sign buttons do the same.
(function () {
  "use strict";
  var form = document.getElementById("note-form");
  if (!form || !window.fetch) { return; }
  var noteId = form.getAttribute("data-note");
  var status = document.getElementById("autosave-status");
  var csrf = form.querySelector("input[name=csrf]").value;
  var version = form.querySelector("input[name=version]");
  var timer = null;
  var saving = false;
  var again = false;

  function value(name) {
    var el = form.elements.namedItem(name);
    return el ? el.value : "";
  }

  function fields() {
    var diagnoses = [];
    for (var i = 0; form.elements.namedItem("diagnoses[" + i + "]"); i++) {
      diagnoses.push(value("diagnoses[" + i + "]"));
    }
    var days = value("follow_up_days").trim();
    var out = {
      subjective: value("subjective"), objective: value("objective"),
      assessment: value("assessment"), plan: value("plan"),
      instructions: value("instructions"), warning_signs: value("warning_signs"),
      risk_assessment: value("risk_assessment"),
      diagnoses: diagnoses,
      follow_up_modality: value("follow_up_modality") || null,
      follow_up_reason: value("follow_up_reason") || null
    };
    if (form.elements.namedItem("acuity")) { out.acuity = value("acuity") || null; }
    if (form.elements.namedItem("disposition")) { out.disposition = value("disposition") || null; }
    if (days !== "") {
      var n = Number(days);
      if (!Number.isInteger(n)) { return null; }
      out.follow_up_days = n;
    }
    return out;
  }

  function say(text) { if (status) { status.textContent = text; } }

  function save() {
    var body = fields();
    if (body === null) { say("Not saved: follow-up days must be a whole number."); return; }
    if (saving) { again = true; return; }
    saving = true;
    say("Saving…");
    fetch("/api/v1/notes/" + noteId, {
      method: "PUT",
      credentials: "same-origin",
      headers: { "content-type": "application/json", "x-csrf-token": csrf },
      body: JSON.stringify({ version: Number(version.value), fields: body })
    }).then(function (r) {
      return r.json().then(function (data) { return { ok: r.ok, data: data }; });
    }).then(function (res) {
      if (res.ok) {
        version.value = res.data.version;
        var t = new Date();
        say("Draft saved at " + t.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" }) + ".");
      } else {
        say("Not saved: " + ((res.data.error && res.data.error.message) || "try Save draft") + ".");
      }
    }).catch(function () {
      say("Not saved: the connection failed. Use Save draft when you are back online.");
    }).then(function () {
      saving = false;
      if (again) { again = false; save(); }
    });
  }

  form.addEventListener("input", function (e) {
    clearTimeout(timer);
    timer = setTimeout(save, 2000);
    var name = e.target.name || "";
    if (name.indexOf("diagnoses[") === 0) { suggest(e.target.value); }
  });

  var list = document.getElementById("icd10-codes");
  var lastQuery = "";
  function suggest(q) {
    q = q.trim();
    if (!list || q.length < 2 || q === lastQuery) { return; }
    lastQuery = q;
    fetch("/api/v1/icd10?limit=15&q=" + encodeURIComponent(q), { credentials: "same-origin" })
      .then(function (r) { return r.ok ? r.json() : []; })
      .then(function (codes) {
        list.textContent = "";
        codes.forEach(function (c) {
          var option = document.createElement("option");
          option.value = c.code;
          option.label = c.code + " " + c.description;
          option.textContent = c.code + " " + c.description;
          list.appendChild(option);
        });
      }).catch(function () {});
  }
})();
