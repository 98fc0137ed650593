// The live dashboard: sign-in, company selector, KPI cards, the incident list and one incident's view,
// kept current by subscriptions. Everything goes through the public GraphQL API.

import { ApiError, LiveSocket, request } from "./api.js";
import { chart, clear, count, duration, h, meter, percent, time, words } from "./dom.js";

const TOKEN_KEY = "alertwhisperer.token";
const COMPANY_KEY = "alertwhisperer.company";
const OPEN_STATUSES = ["NEW", "ACKNOWLEDGED", "IN_PROGRESS", "ESCALATED", "WAITING_ON_CLIENT"];
const HOUR_MS = 3600 * 1000;
const ADMINS = new Set(["MSP_ADMIN", "COMPANY_ADMIN"]);
const MAX_ROWS = 100;

// ---- GraphQL documents -----------------------------------------------------------------------

const LOGIN = `mutation Login($i: LoginInput!) {
  login(input: $i) { token user { id name email role } userErrors { field message code } } }`;
const ME = `query Me { me { id name email role } companies(first: 100) { nodes { id name } } }`;
const ROW = `id priorityScore status severity assetName signature alertCount lastAlertAt createdAt
  acknowledgedAt resolvedAt
  sla { responseDeadline resolutionDeadline responseBreached resolutionBreached paused }
  decision { action reason approvalRequired runbook { name } }`;
const INCIDENTS = `query Incidents($c: ID, $f: IncidentFilter, $o: IncidentOrder) {
  incidents(companyId: $c, filter: $f, orderBy: $o, first: 50) { nodes { ${ROW} } } }`;
const INCIDENT = `query Incident($id: ID!) { incident(id: $id) { ${ROW}
  category flapping criticalAsset toolSources firstAlertAt autoRemediated duplicateCount
  company { id name } assignee { name }
  analysis { patternType rootCause confidence explanation source blastRadius suggestedRunbook { name } }
  decision { explanation runbook { name risk } }
  alerts(first: 20) { nodes { id tool severity message eventTime status duplicate } }
  timeline(first: 50) { nodes { id kind at data actor { name } } }
  executions(first: 10) { id status simulated createdAt finishedAt error runbook { name } } } }`;
const APPROVALS = `query Approvals($c: ID) {
  remediationApprovals(companyId: $c, status: PENDING, first: 100) {
    nodes { id status requestedAt expiresAt incident { id } runbook { name risk } } } }`;
const KPI = `totalAlerts totalIncidents noiseReductionPct mttrSeconds selfHealedCount selfHealedPct autoRemediatedCount
  responseSlaCompliancePct resolutionSlaCompliancePct
  series(bucket: HOUR) { start totalAlerts totalIncidents noiseReductionPct mttrSeconds selfHealedCount }`;
const KPIS = `query Kpis($c: ID, $from: DateTime!, $to: DateTime!) { kpis(companyId: $c, from: $from, to: $to) { from to ${KPI} } }`;
const APPROVE = `mutation Approve($i: RemediationDecisionInput!) {
  remediationApprove(input: $i) { approval { id status } executionId userErrors { field message code } } }`;
const REJECT = `mutation Reject($i: RemediationDecisionInput!) {
  remediationReject(input: $i) { approval { id status } userErrors { field message code } } }`;
const ON_INCIDENT = `subscription OnIncident($c: ID) { incidentChanged(companyId: $c) { kind incident { ${ROW} } } }`;
const ON_REMEDIATION = `subscription OnRemediation($c: ID) { remediationChanged(companyId: $c) { id status incident { id } } }`;
const ON_KPIS = `subscription OnKpis($c: ID!) { kpisUpdated(companyId: $c, hours: 24) { from to ${KPI} } }`;

const DEMO = `id scenario status step totalSteps alertsSent message startedAt finishedAt loop cycle`;
const DEMO_RUN = `query DemoRun($c: ID!) { demoRun(companyId: $c) { ${DEMO} } }`;
const DEMO_START = `mutation DemoStart($c: ID!, $s: DemoScenario!) {
  demoStart(input: {companyId: $c, scenario: $s}) { demo { ${DEMO} } userErrors { field message code } } }`;
const DEMO_STOP = `mutation DemoStop($c: ID!) { demoStop(input: {companyId: $c}) { userErrors { field message code } } }`;
const ON_DEMO = `subscription OnDemo($c: ID!) { demoProgress(companyId: $c) { ${DEMO} } }`;
const SCENARIOS = ["MIXED", "DISK_CLEANUP", "DATABASE_CASCADE", "ALERT_STORM", "FLAPPING_SERVICE", "NOISY_SINGLETONS", "SLA_BREACH"];

// ---- state -----------------------------------------------------------------------------------

const state = {
  token: sessionStorage.getItem(TOKEN_KEY),
  me: null,
  companies: [],
  companyId: null,
  filter: "open",
  incidents: new Map(), // id -> incident row
  approvals: new Map(), // incident id -> pending approval
  selectedId: null,
  selected: null, // the open incident's full view
  draft: { approvalId: null, comment: "" }, // the approval comment being typed
  demoRunning: false,
  kpis: null,
  socket: null,
  unsubscribe: [],
  generation: 0, // bumped on company switch / sign-out: answers for an older one are dropped
};

const $ = (id) => document.getElementById(id);

// ---- helpers ---------------------------------------------------------------------------------

function announce(text) {
  const region = $("announcer");
  // Re-set so the same message twice is still read.
  region.textContent = "";
  window.setTimeout(() => {
    region.textContent = text;
  }, 50);
}

/** `fn` at most once per `ms`, trailing: a burst of events costs one reload. */
function debounce(fn, ms) {
  let timer = null;
  return () => {
    if (timer) return;
    timer = window.setTimeout(() => {
      timer = null;
      fn();
    }, ms);
  };
}

function api(query, variables) {
  return request(query, variables, state.token).catch((err) => {
    if (err instanceof ApiError && ["UNAUTHENTICATED", "TOKEN_EXPIRED"].includes(err.code)) {
      signOut("Your session has ended; sign in again.");
    }
    throw err;
  });
}

function setConnection(kind, text) {
  const el = $("connection");
  el.dataset.state = kind;
  el.textContent = text;
}

// ---- sign-in ---------------------------------------------------------------------------------

function showSignIn(message) {
  $("dashboard-view").hidden = true;
  $("session").hidden = true;
  $("sign-in-view").hidden = false;
  $("sign-in-error").textContent = message || "";
  $("email").focus();
}

async function onSignIn(event) {
  event.preventDefault();
  const email = $("email").value.trim();
  const password = $("password").value;
  const errorEl = $("sign-in-error");
  if (!email || !password) {
    errorEl.textContent = "Enter your email and password.";
    return;
  }
  const button = $("sign-in-button");
  button.disabled = true;
  errorEl.textContent = "";
  try {
    const data = await request(LOGIN, { i: { email, password } });
    const result = data.login;
    if (result.userErrors.length || !result.token) {
      errorEl.textContent = result.userErrors.length ? result.userErrors[0].message : "Sign-in failed.";
      return;
    }
    state.token = result.token;
    sessionStorage.setItem(TOKEN_KEY, result.token);
    $("password").value = "";
    await enterDashboard();
  } catch (err) {
    errorEl.textContent = err.message;
  } finally {
    button.disabled = false;
  }
}

function signOut(message) {
  state.generation += 1;
  if (state.socket) state.socket.stop();
  state.socket = null;
  state.unsubscribe = [];
  state.token = null;
  state.me = null;
  state.incidents.clear();
  state.approvals.clear();
  state.selected = null;
  sessionStorage.removeItem(TOKEN_KEY);
  showSignIn(message);
}

// ---- the dashboard ---------------------------------------------------------------------------

async function enterDashboard() {
  let data;
  try {
    data = await api(ME);
  } catch (err) {
    if (state.token) showSignIn(err.message); // else signOut has said why already
    return;
  }
  state.me = data.me;
  state.companies = data.companies.nodes;
  const select = $("company");
  clear(select);
  for (const c of state.companies) select.append(h("option", { value: c.id }, c.name));
  const remembered = sessionStorage.getItem(COMPANY_KEY);
  const pick = state.companies.find((c) => c.id === remembered) || state.companies[0];
  state.companyId = pick ? pick.id : null;
  if (pick) select.value = pick.id;
  $("who").textContent = `${state.me.name} · ${words(state.me.role)}`;
  $("sign-in-view").hidden = true;
  $("session").hidden = false;
  $("dashboard-view").hidden = false;
  renderKpis();
  renderIncidents();
  state.selectedId = incidentIdFromPath();
  renderSelected();
  startLive();
  await refreshAll();
}

function startLive() {
  if (state.socket) state.socket.stop();
  state.socket = new LiveSocket({
    token: state.token,
    onState: (s) => {
      if (s === "live") setConnection("live", "Live");
      else if (s === "reconnecting") setConnection("down", "Reconnecting…");
      else if (s === "connecting") setConnection("connecting", "Connecting…");
      else setConnection("down", "Offline");
    },
    onConnected: (isReconnect) => {
      if (isReconnect) {
        announce("Live updates reconnected.");
        // What happened while the connection was down arrives with nobody to tell us: read it again.
        refreshAll();
      }
    },
    onRefused: (code) => {
      signOut(code === 4403 ? "You no longer have access; sign in again." : "Your session has ended; sign in again.");
    },
  });
  subscribeCompany();
  state.socket.start();
}

function subscribeCompany() {
  for (const stop of state.unsubscribe) stop();
  state.unsubscribe = [];
  const socket = state.socket;
  const c = state.companyId;
  if (!socket || !c) return;
  state.unsubscribe.push(
    socket.subscribe(ON_INCIDENT, { c }, (data) => onIncidentChanged(data.incidentChanged)),
    socket.subscribe(ON_REMEDIATION, { c }, (data) => onRemediationChanged(data.remediationChanged)),
    socket.subscribe(
      ON_KPIS,
      { c },
      (data) => {
        state.kpis = data.kpisUpdated;
        $("kpi-note").textContent = "";
        renderKpis();
      },
      () => {
        $("kpi-note").textContent = "(live KPI updates unavailable)";
      },
    ),
    socket.subscribe(ON_DEMO, { c }, (data) => renderDemo(data.demoProgress)),
  );
}

async function refreshAll() {
  await Promise.allSettled([loadIncidents(), loadApprovals(), loadKpis(), loadSelected(), loadDemo()]);
}

async function switchCompany(id) {
  state.generation += 1;
  state.companyId = id;
  sessionStorage.setItem(COMPANY_KEY, id);
  state.incidents.clear();
  state.approvals.clear();
  state.kpis = null;
  renderKpis();
  renderIncidents();
  subscribeCompany();
  await refreshAll();
  const name = (state.companies.find((c) => c.id === id) || {}).name;
  announce(`Showing ${name}.`);
}

// ---- incidents -------------------------------------------------------------------------------

async function loadIncidents() {
  const gen = state.generation;
  const open = state.filter === "open";
  const data = await api(INCIDENTS, {
    c: state.companyId,
    f: open ? { status: OPEN_STATUSES } : null,
    o: open ? { field: "PRIORITY", direction: "DESC" } : { field: "CREATED_AT", direction: "DESC" },
  });
  if (gen !== state.generation) return;
  state.incidents = new Map(data.incidents.nodes.map((i) => [i.id, i]));
  renderIncidents();
}

const reloadApprovals = debounce(() => loadApprovals().catch(() => {}), 300);
const reloadSelected = debounce(() => loadSelected().catch(() => {}), 300);
const renderIncidentsSoon = debounce(() => renderIncidents(), 100);

let pendingNews = [];
const announceNews = debounce(() => {
  const news = pendingNews;
  pendingNews = [];
  if (news.length === 1) announce(`New incident: ${news[0].signature} on ${news[0].assetName}.`);
  else if (news.length > 1) announce(`${news.length} new incidents.`);
}, 1500);

function onIncidentChanged(event) {
  if (!event) return;
  const incident = event.incident;
  const known = state.incidents.has(incident.id);
  if (state.filter === "open" && incident.status === "RESOLVED") state.incidents.delete(incident.id);
  else state.incidents.set(incident.id, incident);
  if (!known && event.kind === "CREATED") {
    pendingNews.push(incident);
    announceNews();
  }
  renderIncidentsSoon();
  reloadApprovals();
  if (incident.id === state.selectedId) reloadSelected();
}

function onRemediationChanged(execution) {
  reloadApprovals();
  if (execution && execution.incident && execution.incident.id === state.selectedId) reloadSelected();
}

function sortedIncidents() {
  const list = [...state.incidents.values()];
  if (state.filter === "open") {
    list.sort((a, b) => b.priorityScore - a.priorityScore || (b.lastAlertAt > a.lastAlertAt ? 1 : -1));
  } else {
    list.sort((a, b) => (b.createdAt > a.createdAt ? 1 : b.createdAt < a.createdAt ? -1 : 0));
  }
  // The first page's worth: a storm must not grow the table (and each redraw) without bound.
  return list.slice(0, MAX_ROWS);
}

/** The SLA cell's text: the nearer running deadline, counting down. */
function slaText(incident, now) {
  const sla = incident.sla;
  if (incident.status === "RESOLVED") return { text: "Resolved", kind: "ok" };
  if (!sla) return { text: "—", kind: "none" };
  if (sla.responseBreached || sla.resolutionBreached) {
    return { text: sla.responseBreached ? "Response breached" : "Resolution breached", kind: "breached" };
  }
  if (sla.paused) return { text: "Paused", kind: "paused" };
  const respond = !incident.acknowledgedAt && sla.responseDeadline;
  const deadline = respond ? sla.responseDeadline : sla.resolutionDeadline;
  if (!deadline) return { text: "—", kind: "none" };
  const left = (new Date(deadline).getTime() - now) / 1000;
  if (left <= 0) return { text: respond ? "Response due" : "Resolution due", kind: "breached" };
  return { text: `${respond ? "Respond" : "Resolve"} in ${duration(left)}`, kind: left < 900 ? "soon" : "running" };
}

function decisionText(incident) {
  const approval = state.approvals.get(incident.id);
  if (approval) return `Awaiting approval: ${approval.runbook ? approval.runbook.name : "runbook"}`;
  const d = incident.decision;
  if (!d) return "—";
  if (d.action === "EXECUTE_RUNBOOK") return `Run ${d.runbook ? d.runbook.name : "runbook"}`;
  // A cascade's downstream symptom: the root incident's decision acts for it.
  if (d.action === "FOLLOW_ROOT_CAUSE") return "Follows the root cause";
  return `Escalated (${words(d.reason)})`;
}

function badge(kind, value) {
  return h("span", { class: `badge ${kind}-${String(value).toLowerCase()}` }, words(value));
}

function renderIncidents() {
  const body = $("incident-rows");
  const focusedId = document.activeElement && document.activeElement.dataset ? document.activeElement.dataset.id : null;
  clear(body);
  const now = Date.now();
  const list = sortedIncidents();
  for (const incident of list) {
    const sla = slaText(incident, now);
    const row = h(
      "tr",
      {
        tabindex: "0",
        class: incident.id === state.selectedId ? "selected" : null,
        "aria-selected": incident.id === state.selectedId ? "true" : "false",
        dataset: { id: incident.id },
      },
      h("td", { class: "num" }, Math.round(incident.priorityScore)),
      h("td", {}, badge("status", incident.status)),
      h("td", {}, badge("severity", incident.severity)),
      h("td", { class: "asset" }, incident.assetName),
      h("td", { class: "signature" }, incident.signature),
      h("td", { class: `sla sla-${sla.kind}`, dataset: { sla: incident.id } }, sla.text),
      h("td", {}, decisionText(incident)),
    );
    body.append(row);
  }
  const total = state.incidents.size;
  $("incident-count").textContent = total > list.length ? `(${list.length} of ${total})` : `(${total})`;
  $("incidents-empty").hidden = list.length > 0;
  if (focusedId) {
    const again = body.querySelector(`tr[data-id="${CSS.escape(focusedId)}"]`);
    if (again) again.focus();
  }
}

function tickSla() {
  const now = Date.now();
  for (const cell of document.querySelectorAll("td[data-sla]")) {
    const incident = state.incidents.get(cell.dataset.sla);
    if (!incident) continue;
    const sla = slaText(incident, now);
    if (cell.textContent !== sla.text) cell.textContent = sla.text;
    cell.className = `sla sla-${sla.kind}`;
  }
}

function onRowActivate(event) {
  const row = event.target.closest("tr[data-id]");
  if (!row) return;
  if (event.type === "keydown" && event.key !== "Enter" && event.key !== " ") return;
  event.preventDefault();
  openIncident(row.dataset.id, event.type === "keydown");
}

function onRowKeys(event) {
  if (event.key === "ArrowDown" || event.key === "ArrowUp") {
    const row = event.target.closest("tr[data-id]");
    if (!row) return;
    const next = event.key === "ArrowDown" ? row.nextElementSibling : row.previousElementSibling;
    if (next) {
      event.preventDefault();
      next.focus();
    }
    return;
  }
  onRowActivate(event);
}

// ---- one incident ----------------------------------------------------------------------------

function incidentIdFromPath() {
  const match = window.location.pathname.match(/^\/incidents\/([^/]+)$/);
  return match ? decodeURIComponent(match[1]) : null;
}

async function openIncident(id, moveFocus) {
  state.selectedId = id;
  state.selected = null;
  const path = `/incidents/${encodeURIComponent(id)}`;
  if (window.location.pathname !== path) window.history.pushState({ id }, "", path);
  renderIncidents();
  renderSelected();
  try {
    await loadSelected();
  } catch (err) {
    /* shown in the view */
  }
  if (moveFocus) $("incident-title").focus();
}

async function loadSelected() {
  const id = state.selectedId;
  if (!id) return;
  let data;
  try {
    data = await api(INCIDENT, { id });
  } catch (err) {
    if (id === state.selectedId) renderSelected(err.message);
    throw err;
  }
  if (id !== state.selectedId) return;
  state.selected = data.incident;
  renderSelected(data.incident ? null : "This incident does not exist or is not yours.");
}

function section(title, ...content) {
  return h("section", { class: "detail" }, h("h3", {}, title), ...content);
}

function facts(pairs) {
  const dl = h("dl", { class: "facts" });
  for (const [k, v] of pairs) {
    if (v === null || v === undefined || v === "") continue;
    dl.append(h("dt", {}, k), h("dd", {}, v));
  }
  return dl;
}

function renderSelected(error) {
  const body = $("incident-body");
  // A live redraw must not pull focus from under the keyboard (the Approve button, the comment).
  const focused = body.contains(document.activeElement) ? document.activeElement.id : null;
  drawSelected(error);
  if (focused && document.getElementById(focused)) document.getElementById(focused).focus();
}

function drawSelected(error) {
  const body = $("incident-body");
  const title = $("incident-title");
  clear(body);
  if (!state.selectedId) {
    title.textContent = "Incident";
    body.append(h("p", { class: "empty" }, "Choose an incident to see its alerts, timeline, analysis and executions."));
    return;
  }
  const i = state.selected;
  if (!i) {
    title.textContent = "Incident";
    body.append(h("p", { class: error ? "error" : "empty", role: error ? "alert" : null }, error || "Loading…"));
    return;
  }
  title.textContent = `${i.signature} on ${i.assetName}`;
  const sla = slaText(i, Date.now());
  body.append(
    h(
      "p",
      { class: "badges" },
      badge("status", i.status),
      " ",
      badge("severity", i.severity),
      " ",
      h("span", { class: "badge plain" }, `Priority ${Math.round(i.priorityScore)}`),
      i.flapping ? h("span", { class: "badge plain" }, "Flapping") : null,
      i.autoRemediated ? h("span", { class: "badge status-resolved" }, "Self-healed") : null,
    ),
    facts([
      ["Company", i.company ? i.company.name : null],
      ["Category", words(i.category)],
      ["Alerts", `${i.alertCount} (${i.duplicateCount} duplicates)`],
      ["Tools", i.toolSources.map(words).join(", ")],
      ["First alert", time(i.firstAlertAt)],
      ["Last alert", time(i.lastAlertAt)],
      ["Assignee", i.assignee ? i.assignee.name : "Unassigned"],
      ["SLA", sla.text],
    ]),
  );
  const approval = state.approvals.get(i.id);
  if (approval) body.append(approvalPanel(approval));
  if (i.decision) {
    body.append(
      section(
        "Decision",
        h("p", {}, `${words(i.decision.action)} — ${words(i.decision.reason)}`),
        i.decision.explanation ? h("p", { class: "muted" }, i.decision.explanation) : null,
      ),
    );
  }
  const a = i.analysis;
  body.append(
    section(
      "Analysis",
      a
        ? [
            facts([
              ["Pattern", words(a.patternType)],
              ["Root cause", a.rootCause],
              ["Confidence", percent(a.confidence * 100)],
              ["Blast radius", `${a.blastRadius} asset(s)`],
              ["Source", words(a.source)],
              ["Suggested runbook", a.suggestedRunbook ? a.suggestedRunbook.name : null],
            ]),
            h("p", { class: "muted" }, a.explanation),
          ]
        : h("p", { class: "empty" }, "Not analysed yet."),
    ),
  );
  body.append(
    section(
      `Alerts (${i.alertCount})`,
      list(i.alerts.nodes, "No alerts.", (al) => [
        h("span", { class: "when" }, time(al.eventTime)),
        " ",
        badge("severity", al.severity),
        ` ${words(al.tool)}: ${al.message}`,
        al.duplicate ? " (duplicate)" : "",
      ]),
    ),
    section(
      "Timeline",
      list(i.timeline.nodes, "Nothing yet.", (e) => [
        h("span", { class: "when" }, time(e.at)),
        ` ${words(e.kind)}`,
        e.actor ? ` by ${e.actor.name}` : e.data && e.data.actor ? ` by ${e.data.actor}` : "",
        e.data && e.data.note ? ` — ${e.data.note}` : "",
      ]),
    ),
    section(
      "Executions",
      list(i.executions, "No remediation has run.", (x) => [
        h("span", { class: "when" }, time(x.createdAt)),
        " ",
        badge("exec", x.status),
        ` ${x.runbook ? x.runbook.name : "runbook"}`,
        x.simulated ? " (simulated)" : "",
        x.error ? ` — ${x.error}` : "",
      ]),
    ),
  );
}

function list(items, empty, render) {
  if (!items.length) return h("p", { class: "empty" }, empty);
  return h("ol", { class: "events" }, items.map((item) => h("li", {}, render(item))));
}

function approvalPanel(approval) {
  const canDecide = state.me && ADMINS.has(state.me.role);
  const message = h("p", { class: "error", role: "alert", id: "approval-error" });
  const comment = h("input", { id: "approval-comment", type: "text", maxlength: "2000" });
  // Kept across the view's live redraws while it is the same request.
  if (state.draft.approvalId === approval.id) comment.value = state.draft.comment;
  comment.addEventListener("input", () => {
    state.draft = { approvalId: approval.id, comment: comment.value };
  });
  const panel = h(
    "section",
    { class: "detail approval", "aria-labelledby": "approval-title" },
    h("h3", { id: "approval-title" }, "Remediation awaiting approval"),
    h(
      "p",
      {},
      `${approval.runbook ? approval.runbook.name : "A runbook"} (risk ${words(approval.runbook && approval.runbook.risk)}), `,
      `requested ${time(approval.requestedAt)}, expires ${time(approval.expiresAt)}.`,
    ),
  );
  if (!canDecide) {
    panel.append(h("p", { class: "muted" }, "A company admin of this company approves or rejects it."));
    return panel;
  }
  const decide = async (mutation, verb) => {
    for (const b of panel.querySelectorAll("button")) b.disabled = true;
    message.textContent = "";
    try {
      const data = await api(mutation, { i: { id: approval.id, comment: comment.value.trim() || null } });
      const result = verb === "approved" ? data.remediationApprove : data.remediationReject;
      if (result.userErrors.length) {
        message.textContent = result.userErrors[0].message;
        for (const b of panel.querySelectorAll("button")) b.disabled = false;
        return;
      }
      state.approvals.delete(approval.incident.id);
      announce(`Remediation ${verb}.`);
      renderIncidents();
      await loadSelected();
      $("incident-title").focus();
    } catch (err) {
      message.textContent = err.message;
      for (const b of panel.querySelectorAll("button")) b.disabled = false;
    }
  };
  panel.append(
    h("label", { for: "approval-comment" }, "Comment (optional)"),
    comment,
    h(
      "p",
      { class: "actions" },
      h("button", { type: "button", id: "approve", onclick: () => decide(APPROVE, "approved") }, "Approve"),
      " ",
      h("button", { type: "button", id: "reject", class: "danger", onclick: () => decide(REJECT, "rejected") }, "Reject"),
    ),
    message,
  );
  return panel;
}

async function loadApprovals() {
  const gen = state.generation;
  const data = await api(APPROVALS, { c: state.companyId });
  if (gen !== state.generation) return;
  const before = state.approvals.get(state.selectedId);
  state.approvals = new Map(
    data.remediationApprovals.nodes.filter((a) => a.incident).map((a) => [a.incident.id, a]),
  );
  renderIncidents();
  const after = state.approvals.get(state.selectedId);
  if (state.selected && (before ? before.id : null) !== (after ? after.id : null)) {
    // Don't redraw the view under someone typing a comment unless the request itself changed.
    renderSelected();
  }
}

// ---- demo mode -------------------------------------------------------------------------------

/** The demo panel shows where the server has demo mode (its `demoRun` query answers). */
async function loadDemo() {
  const gen = state.generation;
  let data;
  try {
    data = await api(DEMO_RUN, { c: state.companyId });
  } catch (err) {
    if (err.code !== "NETWORK" && gen === state.generation) $("demo").hidden = true;
    return;
  }
  if (gen !== state.generation) return;
  $("demo").hidden = false;
  $("demo-controls").hidden = !(state.me && ADMINS.has(state.me.role));
  renderDemo(data.demoRun);
}

function renderDemo(run) {
  const text = $("demo-progress");
  const running = Boolean(run && !run.finishedAt);
  if (!run) text.textContent = "No scenario running.";
  else if (running && run.step === 0 && run.cycle > 1) {
    // a looping run between passes: nothing sent yet, the next pass starts shortly
    text.textContent = `${words(run.scenario)}: pass ${run.cycle} starts in a moment`;
  } else {
    const pass = run.loop ? `pass ${run.cycle}, ` : "";
    const progress = `${words(run.scenario)}: ${words(run.status)}, ${pass}step ${run.step} of ${run.totalSteps}, ${count(run.alertsSent)} alerts sent`;
    text.textContent = run.message ? `${progress} — ${run.message}` : progress;
  }
  $("demo-start").disabled = running;
  $("demo-stop").disabled = !running;
  if (state.demoRunning && !running && run) announce(`Demo scenario ${words(run.scenario)} finished.`);
  state.demoRunning = running;
}

async function demoAction(start) {
  const error = $("demo-error");
  error.textContent = "";
  try {
    const data = start
      ? await api(DEMO_START, { c: state.companyId, s: $("demo-scenario").value })
      : await api(DEMO_STOP, { c: state.companyId });
    const result = start ? data.demoStart : data.demoStop;
    if (result.userErrors.length) {
      error.textContent = result.userErrors[0].message;
      return;
    }
    if (start) {
      renderDemo(result.demo);
      announce(`Demo scenario ${words($("demo-scenario").value)} started.`);
    } else {
      await loadDemo();
    }
  } catch (err) {
    error.textContent = err.message;
  }
}

// ---- KPIs ------------------------------------------------------------------------------------

async function loadKpis() {
  const gen = state.generation;
  const to = new Date();
  const from = new Date(to.getTime() - 24 * HOUR_MS);
  try {
    const data = await api(KPIS, { c: state.companyId, from: from.toISOString(), to: to.toISOString() });
    if (gen !== state.generation) return;
    state.kpis = data.kpis;
    $("kpi-note").textContent = "";
  } catch (err) {
    if (gen !== state.generation) return;
    $("kpi-note").textContent = err.code === "NETWORK" ? "" : "(KPIs unavailable)";
  }
  renderKpis();
}

/** The series as one value per hour of the figures' range, oldest first (null: no point that hour).
 * The server rounds the range out to whole UTC hours, so it spans 24 or 25 of them. */
function hourly(kpis, field) {
  if (!kpis || !kpis.series) return new Array(24).fill(null);
  const start = new Date(kpis.from).getTime();
  const hours = Math.max(1, Math.min(48, Math.round((new Date(kpis.to).getTime() - start) / HOUR_MS)));
  const values = new Array(hours).fill(null);
  for (const point of kpis.series) {
    const slot = Math.floor((new Date(point.start).getTime() - start) / HOUR_MS);
    const v = point[field];
    if (slot < 0 || slot >= hours || v === null || v === undefined) continue;
    values[slot] = (values[slot] || 0) + v;
  }
  return values;
}

/** The lower of the two SLA figures: a page that shows 100% beside a breach would mislead. */
function slaHeadline(k) {
  const known = [k.responseSlaCompliancePct, k.resolutionSlaCompliancePct].filter((v) => v !== null && v !== undefined);
  return known.length ? Math.min(...known) : null;
}

/** A runbook's fix counts as self-healed once it held through the company's correlation window;
 * until then the card says how many fixes are waiting, so a fresh fix does not look like none. */
function selfHealedSub(k) {
  if (!k) return "resolved by runbooks";
  const waiting = (k.autoRemediatedCount || 0) - (k.selfHealedCount || 0);
  const share = k.selfHealedPct !== null && k.selfHealedPct !== undefined ? `${percent(k.selfHealedPct)} of incidents` : "resolved by runbooks";
  return waiting > 0 ? `${share} · ${count(waiting)} ${waiting === 1 ? "fix" : "fixes"} still to hold` : share;
}

function renderKpis() {
  const k = state.kpis;
  const sla = k ? slaHeadline(k) : null;
  const cards = [
    { key: "alerts", title: "Alerts", value: k && count(k.totalAlerts), sub: "received", field: "totalAlerts", kind: "bars", fmt: count },
    { key: "incidents", title: "Incidents", value: k && count(k.totalIncidents), sub: "after correlation", field: "totalIncidents", kind: "bars", fmt: count },
    { key: "noise", title: "Noise reduction", value: k && percent(k.noiseReductionPct), sub: "alerts folded into incidents", field: "noiseReductionPct", kind: "line", fmt: percent },
    { key: "mttr", title: "MTTR", value: k && duration(k.mttrSeconds), sub: "mean time to resolve", field: "mttrSeconds", kind: "line", fmt: duration },
    { key: "self-healed", title: "Self-healed", value: k && count(k.selfHealedCount), sub: selfHealedSub(k), field: "selfHealedCount", kind: "bars", fmt: count },
    { key: "sla", title: "SLA compliance", value: k && percent(sla), sub: k ? `response ${percent(k.responseSlaCompliancePct)} · resolution ${percent(k.resolutionSlaCompliancePct)}` : "response and resolution", field: null, kind: "meter" },
  ];
  const list = $("kpi-cards");
  clear(list);
  for (const card of cards) {
    const values = card.field ? hourly(k, card.field) : [];
    const known = values.filter((v) => v !== null);
    let label = `${card.title}: ${card.value || "no data"}`;
    if (card.kind !== "meter") {
      label = known.length
        ? `${card.title} per hour over the last 24 hours; highest ${card.fmt(Math.max(...known))}`
        : `${card.title} per hour over the last 24 hours: no data yet`;
    }
    list.append(
      h(
        "li",
        { class: "kpi card", dataset: { kpi: card.key } },
        h("h2", { class: "kpi-title", id: `kpi-${card.key}` }, card.title),
        h("p", { class: "kpi-value", "aria-describedby": `kpi-${card.key}` }, card.value || "—"),
        h("p", { class: "kpi-sub" }, card.sub),
        card.kind === "meter" ? meter(sla, label) : chart(values, { kind: card.kind, label }),
      ),
    );
  }
}

// ---- wiring ----------------------------------------------------------------------------------

function wire() {
  $("sign-in-form").addEventListener("submit", onSignIn);
  for (const button of document.querySelectorAll(".demo-user")) {
    button.addEventListener("click", () => {
      $("email").value = button.dataset.email;
      const password = $("demo-password");
      if (password) $("password").value = password.textContent;
      $("sign-in-button").focus();
    });
  }
  $("sign-out").addEventListener("click", () => signOut(""));
  for (const scenario of SCENARIOS) $("demo-scenario").append(h("option", { value: scenario }, words(scenario)));
  $("demo-start").addEventListener("click", () => demoAction(true));
  $("demo-stop").addEventListener("click", () => demoAction(false));
  $("company").addEventListener("change", (e) => switchCompany(e.target.value));
  $("incident-filter").addEventListener("change", (e) => {
    state.filter = e.target.value;
    state.generation += 1;
    loadIncidents().catch(() => {});
  });
  const rows = $("incident-rows");
  rows.addEventListener("click", onRowActivate);
  rows.addEventListener("keydown", onRowKeys);
  window.addEventListener("popstate", () => {
    state.selectedId = incidentIdFromPath();
    state.selected = null;
    renderIncidents();
    renderSelected();
    loadSelected().catch(() => {});
  });
  window.setInterval(tickSla, 1000);
}

wire();
if (state.token) enterDashboard();
else showSignIn();
