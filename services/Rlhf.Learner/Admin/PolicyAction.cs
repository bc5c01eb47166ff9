using Rlhf.Storage;
using StackExchange.Redis;

namespace Rlhf.Learner.Admin;

/// <summary>
/// What the operator's policy actions share: the confirmation prompt, the weights check and the outcomes. 0: done;
/// 1: refused or cancelled before any change ("Nothing was changed."); 2: a step that changes the registry or publishes
/// failed (the message names the step and the state it left). The CLI uses them as exit codes.
/// </summary>
public static class PolicyAction
{
    public const int Done = 0;
    public const int Refused = 1;
    public const int FailedPartway = 2;

    public const string NothingChanged = "Nothing was changed.";

    /// <summary>The error line for a registry that cannot be read.</summary>
    public static string UnreadableRegistry(string keyPrefix, RedisException e, bool changes) =>
        $"error: cannot read the model registry under prefix '{keyPrefix}': {e.Message}.{(changes ? " " + NothingChanged : "")}";

    /// <summary>
    /// True when the operator confirmed: <paramref name="yes"/>, or "y"/"yes" typed at <paramref name="question"/>.
    /// Without a terminal (<paramref name="confirm"/> null) only <paramref name="yes"/> proceeds.
    /// </summary>
    /// <param name="action">What needs confirmation, as a gerund phrase ("rolling back from version 2 to version 1").</param>
    /// <param name="question">The prompt, ending with a question mark.</param>
    public static async Task<bool> ConfirmAsync(bool yes, TextReader? confirm, string action, string question, TextWriter output, TextWriter error,
        CancellationToken cancellationToken)
    {
        if (yes)
            return true;
        if (confirm is null)
        {
            error.WriteLine($"error: {action} needs confirmation: pass --yes. {NothingChanged}");
            return false;
        }

        output.Write($"{question} [y/N] ");
        var answer = (await confirm.ReadLineAsync(cancellationToken))?.Trim();
        if (answer is "y" or "Y" or "yes" or "Yes" or "YES")
            return true;
        output.WriteLine($"Cancelled. {NothingChanged}");
        return false;
    }

    /// <summary>True when the version's weights read back and pass their sha256 check; otherwise writes why.</summary>
    public static async Task<bool> VerifyWeightsAsync(IBlobStore blobs, ModelVersionRecord record, TextWriter error, CancellationToken cancellationToken)
    {
        string? problem;
        try
        {
            await blobs.GetAsync(record.Blob, cancellationToken);
            problem = null;
        }
        catch (KeyNotFoundException)
        {
            problem = "is missing (deleted or expired)";
        }
        catch (BlobIntegrityException e)
        {
            problem = $"failed its sha256 check ({e.Message})";
        }
        catch (ArgumentException e)
        {
            problem = $"cannot be read from this blob store ({e.Message}; pass --blob-directory if the services keep weights on a volume)";
        }
        catch (Exception e) when (e is RedisException or IOException or UnauthorizedAccessException)
        {
            problem = $"could not be read ({e.Message})";
        }

        if (problem is null)
            return true;
        error.WriteLine($"error: the weights of policy version {record.Version} ({record.Blob.Uri}) {problem}. {NothingChanged}");
        return false;
    }
}
