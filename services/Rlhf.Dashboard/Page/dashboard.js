// The operator's page: charts from the registry's versions, release state, and the live event stream (SSE).
const $ = id => document.getElementById(id);
const esc = s => String(s ?? "").replace(/[&<>"]/g, c => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;" }[c]));
const pct = v => v == null ? "-" : (100 * v).toFixed(1) + " %";
const num = v => v == null ? "-" : Number(v).toFixed(4);
const json = async url => { const r = await fetch(url); if (r.status === 401) location.href = "/dashboard/login"; return r.json(); };
const today = () => new Date().toISOString().slice(0, 10);
const events = [];           // newest first, today's only
const bucketMs = 10_000;
let newestPolicy = 0;        // newest registered (not rejected) policy version, for the lag chart

async function versions() {
  const v = await json("/v1/dashboard/versions");
  const metric = (rows, key) => rows.map(r => [r.version, r.metrics[key]]).filter(p => p[1] !== undefined);
  const policies = v.policies.filter(p => p.state !== "rejected");
  newestPolicy = Math.max(0, ...policies.map(p => p.version));
  const evalKey = policies.some(p => p.metrics.eval_task_accuracy !== undefined) ? "eval_task_accuracy" : "eval_mean_reward";
  Charts.draw($("chart-eval"), [{ name: evalKey.replace(/_/g, " "), color: "#2563eb", points: metric(policies, evalKey) }]);
  Charts.draw($("chart-reward"), [{ name: "mean reward", color: "#0a7d32", points: metric(policies, "mean_reward") }]);
  Charts.draw($("chart-kl"), [{ name: "KL", color: "#a15c00", points: metric(policies, "kl_to_reference") }]);
  Charts.draw($("chart-rm"), [{ name: "held-out accuracy", color: "#7c3aed",
    points: metric(v.reward_models.filter(m => m.state !== "rejected"), "held_out_pairwise_accuracy") }]);
  $("versions").tBodies[0].innerHTML = v.policies.slice().reverse().map(p =>
    `<tr class="${esc(p.state)}"><td>v${esc(p.version)}</td><td>${esc(p.state)}</td><td>${num(p.metrics.eval_task_accuracy ?? p.metrics.eval_mean_reward)}</td>` +
    `<td>${num(p.metrics.mean_reward)}</td><td>${num(p.metrics.kl_to_reference)}</td><td>${num(p.metrics.value_loss)}</td><td>${esc(p.reason ?? "")}</td></tr>`).join("");
}

async function release() {
  const r = await json("/v1/dashboard/release");
  let html = `champion <b>v${esc(r.champion_version ?? "-")}</b> · reward model v${esc(r.reward_model_version ?? "-")}`;
  if (r.canary) html += ` · canary <b>v${esc(r.canary.version)}</b>: ${pct(r.canary.candidate.mean_score)} of ${r.canary.candidate.judgements}` +
    ` vs champion ${pct(r.canary.champion.mean_score)} of ${r.canary.champion.judgements}`;
  if (r.promotion_pause) html += ` · <span class="alarm">promotion paused: ${esc(r.promotion_pause.reason)}</span>`;
  const last = r.policy_rejections[0];
  if (last) html += ` · last rejected v${esc(last.version)}: ${esc(last.reason)}`;
  $("release").innerHTML = html;
}

function throughputAndLag() {
  const counts = new Map(), lag = [];
  let newest = newestPolicy;
  for (const e of events.slice().reverse()) {           // oldest first
    const t = Date.parse(e.sentTime), bucket = Math.floor(t / bucketMs) * bucketMs;
    if (e.type === "PolicyUpdated") newest = Math.max(newest, e.message.policyVersion);
    if (e.type === "RolloutGenerated" || e.type === "RolloutScored") {
      const c = counts.get(bucket) ?? { g: 0, s: 0 };
      if (e.type === "RolloutGenerated") c.g++; else c.s++;
      counts.set(bucket, c);
    }
    if (e.type === "RolloutScored") lag.push([t, Math.max(0, newest - e.message.policyVersion)]);
  }
  const time = x => new Date(x).toLocaleTimeString();
  const rows = [...counts.entries()].sort((a, b) => a[0] - b[0]);
  Charts.draw($("chart-throughput"), [
    { name: "generated", color: "#2563eb", points: rows.map(([b, c]) => [b, c.g]), xLabel: time },
    { name: "scored", color: "#0a7d32", points: rows.map(([b, c]) => [b, c.s]), xLabel: time }]);
  Charts.draw($("chart-lag"), [{ name: "lag", color: "#a15c00", points: lag, xLabel: time }]);
}

function matches(e) {
  const search = $("search").value.trim().toLowerCase(), type = $("type").value;
  if (type && e.type !== type) return false;
  if (!search) return true;
  return [e.correlationId, e.messageId].includes(search) || JSON.stringify(e.message).toLowerCase().includes(search);
}

function renderEvents() {
  const shown = events.filter(matches).slice(0, 200);
  $("count").textContent = `${shown.length} shown of ${events.length} today`;
  $("rows").innerHTML = shown.map(e =>
    `<tr><td>${esc(e.sentTime)}</td><td class="type">${esc(e.type)}</td><td>${esc(e.correlationId)}</td>` +
    `<td class="json">${esc(JSON.stringify(e.message))}</td></tr>`).join("");
}

let redraw = null;
function changed(kind) {
  if (kind !== "events") { versions().then(throughputAndLag); release(); }
  clearTimeout(redraw);
  redraw = setTimeout(() => { renderEvents(); throughputAndLag(); }, 200);
}

async function start() {
  const initial = await json("/v1/dashboard/events?limit=2000");
  events.push(...initial.filter(e => (e.sentTime ?? "").startsWith(today())));
  changed("all");
  const stream = new EventSource("/v1/dashboard/stream");
  stream.addEventListener("open", () => { $("live").textContent = "live"; $("live").className = "live"; });
  stream.addEventListener("error", () => { $("live").textContent = "reconnecting"; $("live").className = "down"; });
  stream.addEventListener("loop", message => {
    const e = JSON.parse(message.data);
    events.unshift(e);
    if (events.length > 5000) events.pop();
    const registryChanged = /^(Policy|RewardModel|Canary)/.test(e.type);
    changed(registryChanged ? "all" : "events");
  });
  $("search").addEventListener("input", renderEvents);
  $("type").addEventListener("change", renderEvents);
  window.addEventListener("resize", () => changed("all"));
}
start();
