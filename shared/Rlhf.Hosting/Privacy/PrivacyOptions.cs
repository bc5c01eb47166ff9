namespace Rlhf.Hosting.Privacy;

/// <summary>Configuration section <c>Privacy</c>.</summary>
public sealed class PrivacyOptions
{
    public const string SectionName = "Privacy";

    /// <summary>
    /// Replace what people wrote or read (messages, prompts, responses, comments, their token ids) by a length-and-hash
    /// marker in this host's log events (see <see cref="ContentRedactionEnricher"/>). Off by default.
    /// </summary>
    public bool RedactContent { get; set; }
}
