using Microsoft.AspNetCore.Http.HttpResults;
using Rlhf.Contracts;
using Rlhf.Dashboard.Consumers;
using Rlhf.Hosting.Edge;
using Rlhf.Storage;

namespace Rlhf.Dashboard.Apis;

/// <summary>Recent events as JSON and a small live page over them.</summary>
public static class DashboardApi
{
    public static void MapDashboardEndpoints(this IEndpointRouteBuilder app)
    {
        app.MapGet("/v1/dashboard/events", Events);
        app.MapGet("/v1/dashboard/release", ReleaseAsync);
        app.MapGet("/dashboard", () => TypedResults.Content(Page, "text/html; charset=utf-8"));
    }

    static Results<Ok<IReadOnlyList<EventView>>, EdgeErrorResult> Events(RecentEvents recent, string? search, string? type, int? limit)
    {
        if (limit is < 1 or > 2_000)
            return EdgeError.BadRequest("limit must be between 1 and 2000", "limit").ToResult();
        return TypedResults.Ok(recent.Query(search, type, limit ?? 100));
    }

    static async Task<Results<Ok<object>, EdgeErrorResult>> ReleaseAsync(IModelRegistry registry, ILiveFeedbackStore feedback,
        CancellationToken cancellationToken)
    {
        try
        {
            return TypedResults.Ok(await ReleaseView.ReadAsync(registry, feedback, cancellationToken));
        }
        catch (StackExchange.Redis.RedisException error)
        {
            return EdgeError.Unavailable("Model registry unavailable", $"The model registry cannot be read: {error.Message}").ToResult();
        }
    }

    /// <summary>The page, with one type option per event (<see cref="EventTypes"/>).</summary>
    static readonly string Page = PageTemplate.Replace("{EventOptions}",
        string.Concat(EventTypes.Names.Select(name => $"<option>{name}</option>")), StringComparison.Ordinal);

    const string PageTemplate = """
        <!doctype html>
        <html lang="en"><head><meta charset="utf-8"><title>rlhf dashboard</title>
        <style>
          body { font: 14px system-ui, sans-serif; margin: 1.5rem; color: #222; }
          h1 { font-size: 1.3rem; } input, select { font: inherit; padding: .3rem; }
          table { border-collapse: collapse; width: 100%; margin-top: 1rem; }
          th, td { text-align: left; padding: .3rem .5rem; border-bottom: 1px solid #ddd; vertical-align: top; }
          td.json { font: 12px ui-monospace, monospace; white-space: pre-wrap; word-break: break-all; max-width: 60rem; }
          .type { font-weight: 600; } .muted { color: #777; }
          #release { padding: .6rem .8rem; background: #f4f6f8; border-radius: 6px; } #release .alarm { color: #b00020; font-weight: 600; }
        </style></head>
        <body>
        <h1>rlhf: recent events</h1>
        <div id="release" class="muted">release: loading</div>
        <label>Search (correlation id, message id or text) <input id="search" size="40"></label>
        <label>Type <select id="type"><option value="">all</option>
          {EventOptions}</select></label>
        <span class="muted" id="count"></span>
        <table><thead><tr><th>sent</th><th>type</th><th>correlation id</th><th>event</th></tr></thead><tbody id="rows"></tbody></table>
        <script>
          const esc = s => String(s ?? "").replace(/[&<>]/g, c => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;" }[c]));
          async function refresh() {
            const q = new URLSearchParams({ limit: "200" });
            const search = document.getElementById("search").value.trim();
            const type = document.getElementById("type").value;
            if (search) q.set("search", search);
            if (type) q.set("type", type);
            const events = await (await fetch("/v1/dashboard/events?" + q)).json();
            document.getElementById("count").textContent = events.length + " shown";
            document.getElementById("rows").innerHTML = events.map(e =>
              `<tr><td>${esc(e.sentTime)}</td><td class="type">${esc(e.type)}</td><td>${esc(e.correlationId)}</td>` +
              `<td class="json">${esc(JSON.stringify(e.message))}</td></tr>`).join("");
          }
          const pct = v => v == null ? "-" : (100 * v).toFixed(1) + " %";
          async function release() {
            const r = await (await fetch("/v1/dashboard/release")).json();
            let html = `champion <b>v${esc(r.champion_version ?? "-")}</b> · reward model v${esc(r.reward_model_version ?? "-")}`;
            if (r.canary) html += ` · canary <b>v${esc(r.canary.version)}</b>: ${pct(r.canary.candidate.mean_score)} of ${r.canary.candidate.judgements}` +
              ` vs champion ${pct(r.canary.champion.mean_score)} of ${r.canary.champion.judgements}`;
            if (r.promotion_pause) html += ` · <span class="alarm">promotion paused: ${esc(r.promotion_pause.reason)}</span>`;
            const last = r.policy_rejections[0];
            if (last) html += ` · last rejected v${esc(last.version)}: ${esc(last.reason)}`;
            document.getElementById("release").innerHTML = html;
          }
          refresh(); release(); setInterval(refresh, 2000); setInterval(release, 2000);
        </script>
        </body></html>
        """;
}
