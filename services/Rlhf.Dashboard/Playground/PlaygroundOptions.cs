namespace Rlhf.Dashboard.Playground;

/// <summary>
/// Configuration section <c>Dashboard:Playground</c>: where the playground's chat app sends its requests and with which
/// client key. The playground is a client app like any other (a backend for the page that keeps the key on the server),
/// so it needs a client key of generation (chat) and feedback; off while <see cref="GenerationUrl"/>,
/// <see cref="FeedbackUrl"/> or <see cref="ClientKey"/> is unset.
/// </summary>
public sealed class PlaygroundOptions
{
    public const string SectionName = "Dashboard:Playground";

    /// <summary>Base URL of generation (<c>/v1/chat/completions</c>), e.g. <c>http://generation:8080</c>.</summary>
    public string? GenerationUrl { get; set; }

    /// <summary>Base URL of feedback (<c>/v1/feedback/*</c>).</summary>
    public string? FeedbackUrl { get; set; }

    /// <summary>The client key sent as <c>Authorization: Bearer</c> to generation and <c>X-Api-Key</c> to feedback (a secret: set it from the environment).</summary>
    public string? ClientKey { get; set; }

    /// <summary>Operator key sent to generation's <c>/v1/generation/status</c> (champion, canary and the canary share); empty where that route is open.</summary>
    public string? OperatorKey { get; set; }

    /// <summary>Time limit of one call to generation or feedback.</summary>
    public TimeSpan Timeout { get; set; } = TimeSpan.FromSeconds(60);

    public bool Enabled => !string.IsNullOrWhiteSpace(GenerationUrl) && !string.IsNullOrWhiteSpace(FeedbackUrl) && !string.IsNullOrWhiteSpace(ClientKey);
}
