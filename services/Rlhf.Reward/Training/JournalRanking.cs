using Rlhf.Training;

namespace Rlhf.Reward.Training;

/// <summary>A training ranking and the journal position of the feedback it came from.</summary>
public sealed record JournalRanking(Ranking Ranking, string GroupId, long Seq);
