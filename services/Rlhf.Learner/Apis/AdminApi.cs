using System.Text.Json;
using System.Text.Json.Serialization;
using Microsoft.Extensions.Options;
using Rlhf.Hosting;
using Rlhf.Hosting.Authentication;
using Rlhf.Hosting.Edge;
using Rlhf.Learner.Admin;
using Rlhf.Learner.Privacy;

namespace Rlhf.Learner.Apis;

/// <summary>
/// The operator's state-changing actions as HTTP routes (role <c>admin</c>): promote, roll back, abort the canary,
/// resume promotion, requeue and purge dead-lettered messages. The learner owns them because it owns the policy
/// release (registry writes, canary, pause) and already holds the registry, blob store and bus an action needs, so an
/// operator needs only an admin key, not Redis or broker credentials. Each answers an <see cref="AdminOutcome"/> and
/// writes one audit log line (who, what, result).
/// </summary>
public static class AdminApi
{
    /// <summary>Largest admin request body; larger: 413.</summary>
    public const int MaxBodyBytes = 4 * 1024;

    static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web)
    {
        UnmappedMemberHandling = JsonUnmappedMemberHandling.Disallow,
        AllowDuplicateProperties = false,
        NumberHandling = JsonNumberHandling.Strict,
        MaxDepth = 4,
    };

    sealed record VersionRequest([property: JsonPropertyName("version")] long? Version, [property: JsonPropertyName("force")] bool Force = false);

    sealed record QueueRequest([property: JsonPropertyName("queue")] string? Queue, [property: JsonPropertyName("max")] int? Max = null);

    sealed record ScrubRequest([property: JsonPropertyName("queues")] IReadOnlyList<string?>? Queues);

    /// <summary>Most dead-letter queues one scrub names.</summary>
    public const int MaxScrubQueues = 64;

    public static void MapAdminEndpoints(this IEndpointRouteBuilder app)
    {
        var admin = app.MapGroup("/v1/admin").RequireAdmin();
        admin.MapPost("/policy/promote", (HttpContext http, CancellationToken ct) => VersionActionAsync(http, "policy.promote", rollback: false, ct));
        admin.MapPost("/policy/rollback", (HttpContext http, CancellationToken ct) => VersionActionAsync(http, "policy.rollback", rollback: true, ct));
        admin.MapPost("/policy/abort-canary", (HttpContext http, CancellationToken ct) => RunAsync(http, "policy.abort-canary", "",
            (output, error) => CanaryAbort.RunAsync(LearnerDeployment.Create(http.RequestServices), yes: true, confirm: null, output, error, ct)));
        admin.MapPost("/policy/resume", (HttpContext http, CancellationToken ct) => RunAsync(http, "policy.resume", "",
            (output, error) => PromotionResume.RunAsync(LearnerDeployment.Create(http.RequestServices), yes: true, confirm: null, output, error, ct)));
        admin.MapPost("/errors/requeue", (HttpContext http, CancellationToken ct) => QueueActionAsync(http, "errors.requeue", ct));
        admin.MapPost("/errors/purge", (HttpContext http, CancellationToken ct) => QueueActionAsync(http, "errors.purge", ct));
        admin.MapPost("/errors/scrub", ScrubAsync);
    }

    static async Task<IResult> VersionActionAsync(HttpContext http, string action, bool rollback, CancellationToken cancellationToken)
    {
        var (body, unreadable) = await JsonBodyReader.ReadAsync<VersionRequest>(http.Request, new JsonBodyOptions(MaxBodyBytes, Json), cancellationToken);
        if (unreadable is not null)
            return unreadable.ToResult();
        var request = body!.Value;
        if (request.Version is not { } version)
            return EdgeError.BadRequest("version: the policy version is required", "version").ToResult();
        if (version < 1)
            return EdgeError.BadRequest("version: policy versions start at 1", "version").ToResult();
        if (rollback && request.Force)
            return EdgeError.BadRequest("force: a rollback accepts versions with a rejection record anyway; force is for promote", "force").ToResult();
        return await RunAsync(http, action, $"version {version}", (output, error) => OperatorPromotion.RunAsync(
            LearnerDeployment.Create(http.RequestServices), version, rollback, force: rollback || request.Force, yes: true, confirm: null, output, error,
            cancellationToken));
    }

    static async Task<IResult> QueueActionAsync(HttpContext http, string action, CancellationToken cancellationToken)
    {
        var (body, unreadable) = await JsonBodyReader.ReadAsync<QueueRequest>(http.Request, new JsonBodyOptions(MaxBodyBytes, Json), cancellationToken);
        if (unreadable is not null)
            return unreadable.ToResult();
        var request = body!.Value;
        if (string.IsNullOrWhiteSpace(request.Queue))
            return EdgeError.BadRequest("queue: the dead-letter queue (<queue>_error or <queue>_skipped) is required", "queue").ToResult();
        if (request.Queue.Length > 255 || request.Queue.Any(char.IsControl))
            return EdgeError.BadRequest("queue: a queue name has at most 255 characters and no control characters", "queue").ToResult();
        if (request.Max is < 1)
            return EdgeError.BadRequest("max: at least 1", "max").ToResult();
        if (action == "errors.purge" && request.Max is not null)
            return EdgeError.BadRequest("max: purge deletes every message of the queue; max is for requeue", "max").ToResult();

        var (deadLetter, _) = DeadLetterQueues.Resolve(request.Queue);
        var bus = http.RequestServices.GetRequiredService<IOptions<BusOptions>>().Value;
        return await RunAsync(http, action, deadLetter, async (output, error) =>
        {
            if (bus.Transport != BusTransport.RabbitMq)
            {
                error.WriteLine($"error: dead-letter queues exist only on RabbitMQ; this learner runs on the in-memory bus. {PolicyAction.NothingChanged}");
                return PolicyAction.Refused;
            }

            var broker = LearnerDeployment.BusDisplay(bus);
            return await DeadLetterActions.OnBrokerAsync(Connect(bus), broker, connection => action == "errors.purge"
                ? DeadLetterActions.PurgeAsync(connection, broker, request.Queue, yes: true, confirm: null, output, error, cancellationToken)
                : DeadLetterActions.RequeueAsync(connection, broker, request.Queue, request.Max, yes: true, confirm: null, output, error, cancellationToken),
                error, cancellationToken);
        });
    }

    /// <summary>Removes deleted users' messages from the named dead-letter queues (see <see cref="DeadLetterScrub"/>).</summary>
    static async Task<IResult> ScrubAsync(HttpContext http, CancellationToken cancellationToken)
    {
        var (body, unreadable) = await JsonBodyReader.ReadAsync<ScrubRequest>(http.Request, new JsonBodyOptions(MaxBodyBytes, Json), cancellationToken);
        if (unreadable is not null)
            return unreadable.ToResult();
        var queues = body!.Value.Queues;
        if (queues is not { Count: > 0 })
            return EdgeError.BadRequest("queues: name at least one dead-letter queue (<queue>_error or <queue>_skipped)", "queues").ToResult();
        if (queues.Count > MaxScrubQueues)
            return EdgeError.BadRequest($"queues: at most {MaxScrubQueues} per call", "queues").ToResult();
        if (queues.Any(q => string.IsNullOrWhiteSpace(q) || q.Length > 255 || q.Any(char.IsControl)))
            return EdgeError.BadRequest("queues: each is a queue name of 1 to 255 characters without control characters", "queues").ToResult();

        var bus = http.RequestServices.GetRequiredService<IOptions<BusOptions>>().Value;
        var guard = http.RequestServices.GetRequiredService<ErasureGuard>();
        return await RunAsync(http, "errors.scrub", string.Join(',', queues), async (output, error) =>
        {
            if (bus.Transport != BusTransport.RabbitMq)
            {
                error.WriteLine($"error: dead-letter queues exist only on RabbitMQ; this learner runs on the in-memory bus. {PolicyAction.NothingChanged}");
                return PolicyAction.Refused;
            }

            var broker = LearnerDeployment.BusDisplay(bus);
            Rlhf.Storage.ErasedData erased;
            try
            {
                erased = await guard.ReadAsync(cancellationToken);
            }
            catch (StackExchange.Redis.RedisException e)
            {
                error.WriteLine($"error: cannot read the deleted users' tombstones: {e.Message}. {PolicyAction.NothingChanged}");
                return PolicyAction.Refused;
            }

            return await DeadLetterActions.OnBrokerAsync(Connect(bus), broker,
                connection => DeadLetterScrub.RunAsync(connection, broker, [.. queues.Select(q => q!)], erased, output, error, cancellationToken), error, cancellationToken);
        });
    }

    /// <summary>The learner's own broker connection for dead-letter actions (its user, its TLS settings).</summary>
    static Func<CancellationToken, Task<RabbitMQ.Client.IConnection>> Connect(BusOptions bus) =>
        token => bus.RabbitMq.ConnectionFactory("rlhf-learner-admin").CreateConnectionAsync(token);

    static async Task<IResult> RunAsync(HttpContext http, string action, string target, Func<TextWriter, TextWriter, Task<int>> run)
    {
        var who = http.User.Identity?.IsAuthenticated == true ? http.User.Identity.Name ?? "unnamed" : "anonymous";
        var outcome = await AdminOutcome.RunAsync(action, who, run);
        var logger = http.RequestServices.GetRequiredService<ILoggerFactory>().CreateLogger("Rlhf.Audit");
        var detail = outcome.Errors.Count > 0 ? outcome.Errors[0] : outcome.Messages.LastOrDefault() ?? "";
        logger.LogInformation("Audit: {Operator} ran {AdminAction} {Target}: {Result} ({Detail})", who, action, target, outcome.Result, detail);
        return TypedResults.Json(outcome, statusCode: outcome.HttpStatus);
    }
}
