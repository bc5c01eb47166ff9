namespace Rlhf.Contracts;

/// <summary>
/// A candidate that passed the learner's offline gate now answers a share of live requests next to the champion
/// (<c>Generation:CanaryShare</c>). Generation reads the registry's canary on this signal; it never trusts the message's
/// numbers. The canary ends with <see cref="CanaryConcluded"/>.
/// </summary>
/// <param name="CandidateVersion">The canary version (registered, not promoted).</param>
/// <param name="ChampionVersion">The promoted version it is compared with.</param>
/// <param name="MinFeedback">Judgements of the canary's responses needed before a verdict.</param>
/// <param name="StartedAt">When the canary started (UTC).</param>
public sealed record CanaryStarted(
    long CandidateVersion,
    long ChampionVersion,
    int MinFeedback,
    DateTimeOffset StartedAt);
