using System.Collections.Concurrent;
using Rlhf.Contracts;

namespace Rlhf.Reward.Journal;

/// <summary>
/// The ratings journaled so far, per group, so that a new rating can pair with the earlier ones of its group: it
/// forms a two-response ranking with every other rated response of a different value (thumbs up over down; more stars
/// over fewer); equal values form no pair. Rebuilt from the journal when the service restores its state.
/// </summary>
public sealed class GroupRatings
{
    readonly ConcurrentDictionary<string, ConcurrentDictionary<Guid, int>> byGroup = new();

    /// <summary>A rating's value in stars: 1..5 as given, thumbs down 1 and thumbs up 5.</summary>
    public static int Stars(RatingSubmitted rating) => rating.Scale == RatingScale.Thumbs ? rating.Value * 4 + 1 : rating.Value;

    /// <summary>The rankings (tiers of rollout ids, best first) that a rating of <paramref name="rolloutId"/> with <paramref name="stars"/> forms in its group.</summary>
    public IReadOnlyList<IReadOnlyList<IReadOnlyList<Guid>>> PairsFor(string groupId, Guid rolloutId, int stars)
    {
        if (!byGroup.TryGetValue(groupId, out var group))
            return [];
        return [.. group.Where(kv => kv.Key != rolloutId && kv.Value != stars)
            .Select(kv => (IReadOnlyList<IReadOnlyList<Guid>>)(stars > kv.Value ? [[rolloutId], [kv.Key]] : [[kv.Key], [rolloutId]]))];
    }

    /// <summary>Records a journaled rating (a later rating of the same response replaces the earlier one).</summary>
    public void Record(string groupId, Guid rolloutId, int stars) =>
        byGroup.GetOrAdd(groupId, _ => new ConcurrentDictionary<Guid, int>())[rolloutId] = stars;

    public void Clear() => byGroup.Clear();

    /// <summary>Forgets the ratings of these groups (a user's data was deleted).</summary>
    public void Forget(IEnumerable<string> groupIds)
    {
        foreach (var group in groupIds)
            byGroup.TryRemove(group, out _);
    }
}
