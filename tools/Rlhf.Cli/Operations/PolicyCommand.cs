using System.CommandLine;

namespace Rlhf.Cli.Operations;

/// <summary>
/// <c>rlhf policy list|status|promote|rollback|abort-canary|resume</c>: the policy versions in a deployment's model
/// registry and its guarded release (canary, rejections, promotion pause), and an operator's decisions on them. Every
/// subcommand reaches the deployment through the same options (<see cref="PolicyEndpoints"/>).
/// </summary>
public static class PolicyCommand
{
    public static Command Create()
    {
        var redis = new Option<string>("--redis")
        {
            Description = "Redis configuration string of the deployment (the services' Redis:Configuration)",
            DefaultValueFactory = _ => PolicyEndpoints.DefaultRedis,
            Recursive = true,
        };
        var keyPrefix = new Option<string>("--key-prefix")
        {
            Description = "Prefix of the deployment's Redis keys (the services' Redis:KeyPrefix)",
            DefaultValueFactory = _ => PolicyEndpoints.DefaultKeyPrefix,
            Recursive = true,
        };
        var rabbit = new Option<Uri>("--rabbitmq")
        {
            Description = "RabbitMQ address the services use (amqp://user:password@host:port/vhost)",
            DefaultValueFactory = _ => PolicyEndpoints.DefaultRabbitMq,
            CustomParser = RabbitMqAddress.Parse,
            Recursive = true,
        };
        var blobDirectory = new Option<string?>("--blob-directory")
        {
            Description = "The services' Storage:BlobDirectory when weights live on a shared volume (default: blobs in Redis)",
            Recursive = true,
        };
        var timeout = new Option<double>("--timeout")
        {
            Description = "Seconds to wait for Redis to connect and for RabbitMQ to confirm the publish",
            DefaultValueFactory = _ => 15,
            Recursive = true,
        };
        timeout.Validators.Add(result => { if (result.GetValueOrDefault<double>() is not (> 0 and <= 600)) result.AddError("--timeout must be in (0, 600]"); });

        var (adminOptions, admin) = AdminEndpoint.CreateOptions(parse => TimeSpan.FromSeconds(parse.GetValue(timeout)));

        PolicyEndpoints Endpoints(ParseResult parse) => new(parse.GetValue(redis)!, parse.GetValue(keyPrefix) ?? "", parse.GetValue(rabbit)!,
            parse.GetValue(blobDirectory), TimeSpan.FromSeconds(parse.GetValue(timeout)));

        var policy = new Command("policy",
            "Inspect the deployment's policy versions and its release (canary, rejections, promotion pause); promote, roll back, abort a canary, " +
            "resume promotion (through the learner's admin routes, or --direct).")
        {
            redis, keyPrefix, rabbit, blobDirectory, timeout,
            PolicyListCommand.Create(Endpoints),
            PolicyStatusCommand.Create(Endpoints),
            PolicyPromoteCommand.Create(Endpoints, admin),
            PolicyRollbackCommand.Create(Endpoints, admin),
            PolicyAbortCanaryCommand.Create(Endpoints, admin),
            PolicyResumeCommand.Create(Endpoints, admin),
        };
        foreach (var option in adminOptions)
            policy.Options.Add(option);
        return policy;
    }

    /// <summary>The operator's terminal for confirmation prompts; null when input is redirected (then only --yes proceeds).</summary>
    internal static TextReader? Terminal() => Console.IsInputRedirected ? null : Console.In;

    /// <summary>The <c>--yes</c> option of the commands that change something.</summary>
    internal static Option<bool> Yes() => new("--yes", "-y") { Description = "Do not ask for confirmation" };
}
