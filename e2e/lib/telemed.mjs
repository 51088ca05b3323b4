// The telemed binary as the suite drives it: its command line, a server process, the JSON API
// with a session (password, then the TOTP code for staff), and a clinic to run visits in.
import { spawn, execFileSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';

export const PASSWORD = 'e2e password for everyone';
export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// RFC 6238 code (SHA-1, 6 digits, 30 s) of a base32 secret.
export function totp(secretB32, at = Date.now()) {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';
  let bits = '';
  for (const c of secretB32.replace(/=+$/, '').toUpperCase()) {
    const v = alphabet.indexOf(c);
    if (v < 0) throw new Error(`not base32: ${c}`);
    bits += v.toString(2).padStart(5, '0');
  }
  const bytes = [];
  for (let i = 0; i + 8 <= bits.length; i += 8) bytes.push(parseInt(bits.slice(i, i + 8), 2));
  const counter = Buffer.alloc(8);
  counter.writeBigUInt64BE(BigInt(Math.floor(at / 1000 / 30)));
  const mac = crypto.createHmac('sha1', Buffer.from(bytes)).update(counter).digest();
  const offset = mac[mac.length - 1] & 0x0f;
  const code = (mac.readUInt32BE(offset) & 0x7fffffff) % 1_000_000;
  return String(code).padStart(6, '0');
}

// The server accepts each time step of a user's codes once (no replays) and the steps next to
// the current one: a second sign-in of the same person within 30 s uses the next step's code.
const lastStep = new Map();
export async function freshCode(secretB32) {
  for (;;) {
    const now = Math.floor(Date.now() / 30000);
    const step = Math.max(now, (lastStep.get(secretB32) ?? -1) + 1);
    if (step <= now + 1) {
      lastStep.set(secretB32, step);
      return totp(secretB32, step * 30000);
    }
    await sleep(1000);
  }
}

export async function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
    s.on('error', reject);
  });
}

// Runs a command of the binary; `--json` output is parsed from its last line.
export function cli(bin, common, args) {
  const out = execFileSync(bin, [...common, ...args], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  const lines = out.trim().split('\n');
  return args.includes('--json') ? JSON.parse(lines[lines.length - 1]) : out;
}

export class Server {
  constructor({ bin, databaseUrl, keyFile, dir, name, extra = [] }) {
    Object.assign(this, { bin, databaseUrl, keyFile, dir, name, extra });
  }

  common() {
    return ['--database-url', this.databaseUrl, '--secret-key-file', this.keyFile];
  }

  async start() {
    this.port = await freePort();
    this.base = `http://127.0.0.1:${this.port}`;
    this.logFile = path.join(this.dir, `${this.name}.log`);
    const log = fs.openSync(this.logFile, 'a');
    this.proc = spawn(this.bin, [...this.common(), 'serve', '--addr', `127.0.0.1:${this.port}`,
      '--check-in-window-minutes', '240', ...this.extra], {
      stdio: ['ignore', log, log],
      env: { ...process.env, TELEMED_LOG: process.env.TELEMED_LOG || 'info' },
    });
    this.exited = null;
    this.proc.on('exit', (code, signal) => { this.exited = { code, signal }; });
    const deadline = Date.now() + 30000;
    while (Date.now() < deadline) {
      if (this.exited) throw new Error(`${this.name} exited: ${JSON.stringify(this.exited)}\n${this.tail()}`);
      try {
        const r = await fetch(`${this.base}/readyz`);
        if (r.ok) return this;
      } catch { /* not yet */ }
      await sleep(100);
    }
    throw new Error(`${this.name} did not become ready\n${this.tail()}`);
  }

  tail(lines = 30) {
    try {
      return fs.readFileSync(this.logFile, 'utf8').trim().split('\n').slice(-lines).join('\n');
    } catch { return ''; }
  }

  async stop() {
    if (!this.proc || this.exited) return;
    this.proc.kill('SIGINT');
    const deadline = Date.now() + 5000;
    while (!this.exited && Date.now() < deadline) await sleep(50);
    if (!this.exited) this.proc.kill('SIGKILL');
  }
}

// A JSON API session: the cookie and CSRF token of one signed-in person.
export class Api {
  constructor(base) {
    this.base = base;
    this.cookie = '';
    this.csrf = '';
  }

  async request(method, urlPath, body) {
    const headers = { accept: 'application/json' };
    if (this.cookie) headers.cookie = this.cookie;
    if (this.csrf && method !== 'GET') headers['x-csrf-token'] = this.csrf;
    if (body !== undefined) headers['content-type'] = 'application/json';
    const r = await fetch(this.base + urlPath, { method, headers, body: body === undefined ? undefined : JSON.stringify(body), redirect: 'manual' });
    const setCookie = r.headers.get('set-cookie');
    const m = setCookie && /telemed_session=([^;]*)/.exec(setCookie);
    if (m) this.cookie = `telemed_session=${m[1]}`;
    const text = await r.text();
    let json = null;
    try { json = text ? JSON.parse(text) : null; } catch { json = null; }
    return { status: r.status, json, text };
  }

  async must(method, urlPath, body, expected = [200, 201, 204]) {
    const r = await this.request(method, urlPath, body);
    if (!expected.includes(r.status)) throw new Error(`${method} ${urlPath}: ${r.status} ${r.text.slice(0, 500)}`);
    return r.json;
  }

  get(p) { return this.must('GET', p); }
  post(p, body = {}) { return this.must('POST', p, body); }

  async signIn(email, totpSecret) {
    const first = await this.must('POST', '/api/v1/session', { email, password: PASSWORD });
    if (first.status === 'signed_in') {
      this.csrf = first.csrf_token;
      return this;
    }
    if (first.status !== 'mfa_required') throw new Error(`sign-in of ${email}: ${JSON.stringify(first)}`);
    const second = await this.must('POST', '/api/v1/session/code', { code: await freshCode(totpSecret) });
    this.csrf = second.csrf_token;
    return this;
  }
}

// A time zone where it is now between 03:00 and 20:00, so that today's hours cover the next two.
function workingZone() {
  const zones = ['America/New_York', 'America/Los_Angeles', 'Pacific/Honolulu', 'Europe/London',
    'Asia/Tokyo', 'Asia/Kolkata', 'Australia/Sydney', 'America/Sao_Paulo'];
  for (const zone of zones) {
    const hour = Number(new Intl.DateTimeFormat('en-GB', { hour: '2-digit', hourCycle: 'h23', timeZone: zone }).format(new Date()));
    if (hour >= 3 && hour <= 20) return zone;
  }
  return 'America/New_York';
}

function today(zone) {
  const parts = new Intl.DateTimeFormat('en-CA', { timeZone: zone, year: 'numeric', month: '2-digit', day: '2-digit', weekday: 'long' })
    .formatToParts(new Date());
  const get = (t) => parts.find((p) => p.type === t).value;
  return { date: `${get('year')}-${get('month')}-${get('day')}`, weekday: get('weekday').toLowerCase() };
}

let counter = 0;
const unique = () => `${Date.now().toString(36)}${(counter++).toString(36)}`;

// An organization with one New York clinic, an administrator, a clinician licensed in NY with
// hours all day today (10-minute video visits), made with the command line before the server
// starts. Patients are added through the API once it runs (`clinic.patient()`).
export function createClinic(server) {
  const c = server.common();
  const org = cli(server.bin, c, ['org', 'create', '--name', `E2E Health ${unique()}`, '--json']).id;
  const zone = workingZone();
  const site = cli(server.bin, c, ['site', 'create', '--org', org, '--name', 'E2E Clinic', '--state', 'NY', '--time-zone', zone, '--json']).id;
  const adminEmail = `admin-${unique()}@e2e.test`;
  const admin = cli(server.bin, c, ['user', 'create', '--org', org, '--role', 'org_admin', '--email', adminEmail,
    '--password', PASSWORD, '--site', site, '--json']);
  const clinicianEmail = `clinician-${unique()}@e2e.test`;
  const clinician = cli(server.bin, c, ['user', 'create', '--org', org, '--role', 'clinician', '--email', clinicianEmail,
    '--password', PASSWORD, '--site', site, '--name', 'Dr Grace Hopper', '--npi', '1234567893',
    '--license', 'NY:NY-12345:2035-01-01', '--json']);
  const visitType = cli(server.bin, c, ['visit-type', 'create', '--org', org, '--name', 'Video follow-up',
    '--service-line', 'primary_care', '--modality', 'video', '--minutes', '10', '--patient-bookable', '--json']).id;
  return {
    server, org, site, zone, visitType,
    admin: { id: admin.id, email: adminEmail, totp: admin.totp_secret },
    clinician: { id: clinician.id, email: clinicianEmail, totp: clinician.totp_secret, name: 'Dr Grace Hopper' },
  };
}

// Once the server runs: the clinician's hours for today, published as slots.
export async function openHours(clinic) {
  const api = await new Api(clinic.server.base).signIn(clinic.admin.email, clinic.admin.totp);
  const { date, weekday } = today(clinic.zone);
  await api.post(`/api/v1/clinicians/${clinic.clinician.id}/availability/templates`, {
    site_id: clinic.site, weekday, start_time: '00:00', end_time: '23:50', slot_minutes: 10,
    buffer_minutes: 0, service_lines: ['primary_care'], valid_from: date,
  });
  clinic.adminApi = api;
  return clinic;
}

// A patient record and the account that opens it.
export async function newPatient(clinic, given) {
  const api = clinic.adminApi;
  const family = `Tester${unique()}`;
  const patient = await api.post('/api/v1/patients', {
    mrn: `MRN-${unique()}`, given_name: given, family_name: family, birth_date: '1984-03-02', sex: 'female',
    email: null, phone: '+1 555 0100',
    address: { line1: '12 Elm Street', line2: null, city: 'Albany', state: 'NY', postal_code: '12207' },
    preferred_language: 'en', primary_site_id: clinic.site,
  });
  const email = `${given.toLowerCase()}-${unique()}@e2e.test`;
  await api.post('/api/v1/users', { email, display_name: `${given} ${family}`, role: 'patient', password: PASSWORD, patient_id: patient.id });
  return { id: patient.id, email, given, family, name: `${given} ${family}` };
}

// Books the soonest open slot for a patient through the API, and (optionally) checks them in.
export async function bookSoonest(clinic, patient, { checkIn = false } = {}) {
  const api = await new Api(clinic.server.base).signIn(patient.email);
  const { slots } = await api.get(`/api/v1/slots?visit_type_id=${clinic.visitType}&patient_state=NY&limit=5`);
  const soon = slots.find((s) => Date.parse(s.start) > Date.now() + 5000);
  if (!soon) throw new Error('no open slot to book');
  const appointment = await api.post('/api/v1/appointments', { slot_id: soon.id, visit_type_id: clinic.visitType, consent_version: 1 });
  if (checkIn) {
    await api.post(`/api/v1/appointments/${appointment.id}/check-in`, {
      patient_state: 'NY', location: 'home, 12 Elm Street, Albany NY', questionnaire: { notes: 'follow-up' },
    });
  }
  return { id: appointment.id, api };
}
