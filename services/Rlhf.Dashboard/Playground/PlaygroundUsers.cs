using Rlhf.Contracts;

namespace Rlhf.Dashboard.Playground;

/// <summary>
/// The OpenAI <c>user</c> ids a playground session sends so that one request is answered by the champion and one by
/// the canary: generation routes a user to the canary when <see cref="CanaryRouting.Position"/> of <c>user:{id}</c> is
/// below the canary share, so the first candidate id on each side is chosen (sticky for the session, like a real user).
/// </summary>
public static class PlaygroundUsers
{
    /// <summary>Candidate ids tried per side; with a share of 1 % the chance that none of them lands on the canary is 0.99^4096, about 1e-18.</summary>
    public const int Candidates = 4096;

    /// <summary>The session's (champion user, canary user); the canary user is null without a canary or with a share of 0 or 1.</summary>
    public static (string Champion, string? Canary) For(string session, long? canaryVersion, double share)
    {
        var plain = $"playground-{session}";
        if (canaryVersion is not { } canary || share is <= 0 or >= 1)
            return (plain, null);
        string? champion = null, canaryUser = null;
        for (var i = 0; i < Candidates && (champion is null || canaryUser is null); i++)
        {
            var id = $"{plain}-{i}";
            if (CanaryRouting.IsCanary(canary, CanaryRouting.KeyOf(id, ""), share))
                canaryUser ??= id;
            else
                champion ??= id;
        }

        return (champion ?? plain, canaryUser);
    }
}
