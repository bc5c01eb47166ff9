// The playground: a chat app on the public APIs. The page builds the bodies a chat app sends (OpenAI chat completions,
// /v1/feedback/rankings and /ratings); the dashboard's backend adds the client key and passes them through.
const $ = id => document.getElementById(id);
const esc = s => String(s ?? "").replace(/[&<>"]/g, c => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;" }[c]));
const uuid = () => (crypto.randomUUID ? crypto.randomUUID() : Array.from({ length: 32 }, () => Math.floor(Math.random() * 16).toString(16)).join(""));
const session = localStorage.getItem("rlhf-playground-session") || uuid().replace(/-/g, "");
localStorage.setItem("rlhf-playground-session", session);
let sides = [];   // [{ side, user }] from the session endpoint

// An API's error message, whichever shape it came in: OpenAI's envelope or ProblemDetails.
const messageOf = (status, body) => body?.error?.message ?? body?.detail ?? body?.title ?? `HTTP ${status}`;

async function call(url, options = {}) {
  const response = await fetch(url, options);
  if (response.status === 401) { location.href = "/dashboard/login"; throw new Error("sign in first"); }
  let body = null;
  try { body = await response.json(); } catch { /* empty body */ }
  return { ok: response.ok, status: response.status, body };
}

async function loadSession() {
  const r = await call(`/v1/dashboard/playground/session?session=${encodeURIComponent(session)}`);
  if (!r.ok) { $("served").textContent = messageOf(r.status, r.body); $("ask").disabled = true; return; }
  sides = r.body.sides;
  $("served").textContent = `champion v${r.body.champion_version ?? "-"}` +
    (r.body.canary_version != null ? ` · canary v${r.body.canary_version} (${(100 * r.body.canary_share).toFixed(0)} % of users)` : " · no canary");
}

async function ask(event) {
  event.preventDefault();
  const content = $("prompt").value.trim();
  if (!content) return;
  $("ask").disabled = true;
  $("status").textContent = "generating";
  $("sides").innerHTML = "";
  try {
    const answers = await Promise.all(sides.map(s => call("/v1/dashboard/playground/chat", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({
        model: "rlhf-policy", messages: [{ role: "user", content }], n: Number($("n").value),
        max_tokens: Number($("max-tokens").value), temperature: Number($("temperature").value), user: s.user,
      }),
    })));
    answers.forEach((r, i) => $("sides").appendChild(r.ok ? sideView(sides[i].side, r.body) : errorView(sides[i].side, r)));
    $("status").textContent = "rank the answers (1 = best, equal numbers are ties) or thumb one";
  } catch (error) {
    $("status").textContent = `failed: ${error.message}`;
  } finally {
    $("ask").disabled = false;
  }
}

function errorView(side, r) {
  const div = document.createElement("div");
  div.className = "side";
  div.innerHTML = `<h2>${esc(side)}</h2><p class="down">${esc(messageOf(r.status, r.body))}</p>`;
  return div;
}

// One side: its answers, a rank per answer, thumbs, and the ranking's submit button.
function sideView(side, completion) {
  const div = document.createElement("div");
  div.className = "side";
  div.dataset.side = side;
  div.dataset.group = completion.id;
  const n = completion.choices.length;
  const options = Array.from({ length: n }, (_, i) => `<option>${i + 1}</option>`).join("");
  div.innerHTML = `<h2>${esc(side)} <span class="muted">${esc(completion.system_fingerprint)}</span></h2>` +
    completion.choices.map((c, i) =>
      `<div class="answer" data-rollout="${esc(c.rollout_id)}"><pre>${esc(c.message?.content)}</pre>` +
      `<span class="muted">${esc(c.finish_reason)}</span> · rank <select class="rank">${options.replace(`<option>${i + 1}</option>`, `<option selected>${i + 1}</option>`)}</select>` +
      ` <button type="button" class="thumb" data-value="1" title="thumbs up">▲ up</button>` +
      `<button type="button" class="thumb" data-value="0" title="thumbs down">▼ down</button>` +
      ` <span class="result muted"></span></div>`).join("") +
    (n > 1 ? `<p><button type="button" class="submit-ranking">Submit ranking</button> <span class="result ranking-result muted"></span></p>` : "");
  div.querySelectorAll(".thumb").forEach(button => button.addEventListener("click", () => thumb(button)));
  div.querySelector(".submit-ranking")?.addEventListener("click", () => rank(div));
  return div;
}

async function feedback(kind, body, resultElement) {
  resultElement.textContent = "sending";
  const r = await call(`/v1/dashboard/playground/feedback/${kind}`, {
    method: "POST",
    headers: { "Content-Type": "application/json", "Idempotency-Key": uuid() },
    body: JSON.stringify({ ...body, rater_id: $("rater").value.trim() }),
  });
  resultElement.textContent = r.ok ? `${r.body?.status ?? "accepted"} (${r.status})` : `refused (${r.status}): ${messageOf(r.status, r.body)}`;
  resultElement.className = `result ${r.ok ? "live" : "down"}${resultElement.classList.contains("ranking-result") ? " ranking-result" : ""}`;
}

function thumb(button) {
  const answer = button.closest(".answer");
  return feedback("ratings", { rollout_id: answer.dataset.rollout, scale: "thumbs", value: Number(button.dataset.value) },
    answer.querySelector(".result"));
}

// Tiers from the rank numbers: the answers with rank 1 first, ties share a tier.
function rank(div) {
  const tiers = new Map();
  div.querySelectorAll(".answer").forEach(a => {
    const r = Number(a.querySelector(".rank").value);
    tiers.set(r, [...(tiers.get(r) ?? []), a.dataset.rollout]);
  });
  const ranking = [...tiers.keys()].sort((a, b) => a - b).map(r => tiers.get(r));
  return feedback("rankings", { group_id: div.dataset.group, ranking }, div.querySelector(".ranking-result"));
}

$("ask-form").addEventListener("submit", ask);
loadSession();
