using System.CommandLine;
using System.CommandLine.Parsing;
using Rlhf.Archive;

namespace Rlhf.Cli.Archive;

/// <summary><c>rlhf replay --publish-to</c> and its options: republish the selection into a sandbox instead of writing JSONL.</summary>
sealed class ReplayPublishOptions
{
    readonly Option<Uri?> publishTo = new("--publish-to")
    {
        Description = "Republish the selected events into this broker and virtual host (a sandbox), e.g. amqp://guest:guest@localhost:5672/rlhf-sandbox, " +
            "instead of writing JSONL",
        CustomParser = ParseAddress,
    };

    readonly Option<ReplayPace> pace = new("--pace")
    {
        Description = "With --publish-to: original (the recorded gaps between sent times), <factor>x (e.g. 10x: ten times faster) or max (no waits)",
        DefaultValueFactory = _ => ReplayPace.Max,
        CustomParser = result =>
        {
            var text = result.Tokens.Count > 0 ? result.Tokens[^1].Value : "";
            if (ReplayPace.TryParse(text, out var parsed))
                return parsed;
            result.AddError($"--pace must be original, max or a factor such as 10x or 0.5x (got '{text}').");
            return ReplayPace.Max;
        },
    };

    readonly Option<bool> allowProduction = new("--allow-production")
    {
        Description = "Allow --publish-to the virtual host '/' (production) and seeding rollouts under the production key prefix",
    };

    readonly Option<string?> sandboxRedis = new("--sandbox-redis")
    {
        Description = "With --publish-to: store each replayed RolloutGenerated in this Redis (the sandbox services' Redis:Configuration) before " +
            "publishing it, so replayed rankings find their rollouts",
    };

    readonly Option<string> sandboxKeyPrefix = new("--sandbox-key-prefix")
    {
        Description = "Key prefix of the sandbox's rollout store (the sandbox services' Replay:KeyPrefix)",
        DefaultValueFactory = _ => ReplayTarget.DefaultSandboxKeyPrefix,
    };

    /// <summary>Adds the options to <paramref name="command"/>; <c>--publish-to</c> excludes <paramref name="out"/>, and the others need it.</summary>
    public static ReplayPublishOptions AddTo(Command command, Option<string?> @out)
    {
        var options = new ReplayPublishOptions();
        foreach (var option in new Option[] { options.publishTo, options.pace, options.allowProduction, options.sandboxRedis, options.sandboxKeyPrefix })
            command.Options.Add(option);
        command.Validators.Add(result =>
        {
            var publishing = result.GetResult(options.publishTo) is not null;
            if (publishing && result.GetResult(@out) is not null)
                result.AddError("--publish-to and --out exclude each other: replay either into a broker or into a file.");
            foreach (var needsTarget in new Option[] { options.pace, options.allowProduction, options.sandboxRedis, options.sandboxKeyPrefix })
                if (!publishing && result.GetResult(needsTarget) is { Implicit: false })
                    result.AddError($"{needsTarget.Name} only applies with --publish-to.");
        });
        return options;
    }

    /// <summary>True when <c>--publish-to</c> was given.</summary>
    public bool Requested(ParseResult parse) => parse.GetValue(publishTo) is not null;

    /// <summary>The replay into the target when <c>--publish-to</c> was given; null otherwise (write JSONL).</summary>
    public Task<int>? Run(ParseResult parse, string? eventsPath, EventFilter filter, int offset, int? limit, CancellationToken cancellationToken)
    {
        if (parse.GetValue(publishTo) is not { } address)
            return null;
        var error = parse.InvocationConfiguration.Error;
        if (eventsPath is null)
        {
            error.WriteLine("error: --publish-to needs --events or --archive.");
            return Task.FromResult(1);
        }

        var target = new ReplayTarget(address, parse.GetValue(pace), parse.GetValue(allowProduction), parse.GetValue(sandboxRedis),
            parse.GetValue(sandboxKeyPrefix) ?? ReplayTarget.DefaultSandboxKeyPrefix);
        return ReplayProgressDisplay.RunAsync(error, (messages, progress) =>
            ReplayPublisher.RunAsync(eventsPath, filter, offset, limit, target, messages, progress, cancellationToken));
    }

    static Uri? ParseAddress(ArgumentResult result)
    {
        var text = result.Tokens.Count > 0 ? result.Tokens[^1].Value : "";
        if (Uri.TryCreate(text, UriKind.Absolute, out var uri) && uri.Scheme is "amqp" or "amqps")
            return uri;
        result.AddError($"--publish-to must be an amqp:// or amqps:// address with the sandbox's virtual host, e.g. " +
            $"amqp://guest:guest@localhost:5672/rlhf-sandbox (got '{text}').");
        return null;
    }
}
