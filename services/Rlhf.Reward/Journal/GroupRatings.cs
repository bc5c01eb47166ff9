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
    public IReadOnlyList<IReadOnlyList<IReadOnlyList<Guid>>> PairsFor(string groupId, Guid rolloutId, int stars) =>
        byGroup.TryGetValue(groupId, out var group) ? Pairs(group, rolloutId, stars) : [];

    /// <summary>
    /// <see cref="PairsFor(string, Guid, int)"/> as if <paramref name="earlier"/> (rollout id and stars, in order; a later
    /// one replaces an earlier one of the same rollout) had been recorded in the group too: ratings of one batch that are
    /// not journaled yet.
    /// </summary>
    public IReadOnlyList<IReadOnlyList<IReadOnlyList<Guid>>> PairsFor(string groupId, Guid rolloutId, int stars, IReadOnlyList<(Guid RolloutId, int Stars)> earlier)
    {
        if (earlier.Count == 0)
            return PairsFor(groupId, rolloutId, stars);
        var group = byGroup.TryGetValue(groupId, out var recorded) ? new Dictionary<Guid, int>(recorded) : [];
        foreach (var (id, value) in earlier)
            group[id] = value;
        return Pairs(group, rolloutId, stars);
    }

    static IReadOnlyList<IReadOnlyList<IReadOnlyList<Guid>>> Pairs(IEnumerable<KeyValuePair<Guid, int>> group, Guid rolloutId, int stars) =>
        [.. group.Where(kv => kv.Key != rolloutId && kv.Value != stars)
            .Select(kv => (IReadOnlyList<IReadOnlyList<Guid>>)(stars > kv.Value ? [[rolloutId], [kv.Key]] : [[kv.Key], [rolloutId]]))];

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
