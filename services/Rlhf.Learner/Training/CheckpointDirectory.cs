using System.Globalization;
using System.Text.Json;
using System.Text.Json.Serialization;

namespace Rlhf.Learner.Training;

/// <summary>
/// The learner's checkpoints under <see cref="LearnerOptions.StateDirectory"/>: one directory per checkpoint,
/// <c>checkpoint-{sequence}</c>, holding the PPO trainer (<c>ppo/</c>), the SFT trainer (<c>sft/</c>) and
/// <c>learner.json</c>, which is written last (atomically), so a directory without it is an interrupted write and is
/// ignored. <c>effects.done</c> marks a checkpoint whose effects were carried out. Older checkpoints are deleted once
/// a newer one is complete.
/// </summary>
public sealed class CheckpointDirectory
{
    public const string StateFile = "learner.json";
    public const string EffectsDoneFile = "effects.done";
    const string Prefix = "checkpoint-";

    static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web)
    {
        WriteIndented = true,
        NumberHandling = JsonNumberHandling.AllowNamedFloatingPointLiterals,
        Converters = { new JsonStringEnumConverter() },
    };

    public CheckpointDirectory(string root)
    {
        Root = Path.GetFullPath(root);
        Directory.CreateDirectory(Root);
    }

    public string Root { get; }

    public static string PpoPath(string checkpoint) => Path.Combine(checkpoint, "ppo");

    public static string SftPath(string checkpoint) => Path.Combine(checkpoint, "sft");

    /// <summary>The newest complete checkpoint, or null when there is none.</summary>
    public string? Latest() => Complete().LastOrDefault().Path;

    /// <summary>An empty directory for checkpoint <paramref name="sequence"/> (a leftover of an interrupted write is cleared).</summary>
    public string Create(long sequence)
    {
        var path = Path.Combine(Root, Prefix + sequence.ToString("D10", CultureInfo.InvariantCulture));
        if (Directory.Exists(path))
            Directory.Delete(path, recursive: true);
        Directory.CreateDirectory(path);
        return path;
    }

    /// <summary>Makes the checkpoint complete: <c>learner.json</c> is written to a temporary file and renamed.</summary>
    public static void Commit(string checkpoint, LearnerState state)
    {
        var target = Path.Combine(checkpoint, StateFile);
        var temporary = target + ".tmp";
        using (var stream = new FileStream(temporary, FileMode.Create, FileAccess.Write, FileShare.None))
        {
            JsonSerializer.Serialize(stream, state, Json);
            stream.Flush(flushToDisk: true);
        }

        File.Move(temporary, target, overwrite: true);
    }

    public static LearnerState Read(string checkpoint) =>
        JsonSerializer.Deserialize<LearnerState>(File.ReadAllText(Path.Combine(checkpoint, StateFile)), Json)
        ?? throw new InvalidDataException($"{Path.Combine(checkpoint, StateFile)} holds null.");

    public static bool EffectsDone(string checkpoint) => File.Exists(Path.Combine(checkpoint, EffectsDoneFile));

    public static void MarkEffectsDone(string checkpoint) => File.WriteAllText(Path.Combine(checkpoint, EffectsDoneFile), "");

    /// <summary>Deletes every checkpoint directory other than <paramref name="keep"/>, complete or not.</summary>
    public void DeleteAllBut(string keep)
    {
        foreach (var directory in Directory.EnumerateDirectories(Root, Prefix + "*"))
        {
            if (!string.Equals(Path.GetFullPath(directory), Path.GetFullPath(keep), StringComparison.Ordinal))
                Directory.Delete(directory, recursive: true);
        }
    }

    /// <summary>A scratch directory under the state root (same volume), deleted by the caller.</summary>
    public string Scratch(string purpose)
    {
        var path = Path.Combine(Root, $"tmp-{purpose}-{Guid.NewGuid():N}");
        Directory.CreateDirectory(path);
        return path;
    }

    /// <summary>Removes scratch directories an interrupted export or import left behind.</summary>
    public void DeleteScratch()
    {
        foreach (var directory in Directory.EnumerateDirectories(Root, "tmp-*"))
            Directory.Delete(directory, recursive: true);
    }

    IEnumerable<(long Sequence, string Path)> Complete() => Directory.EnumerateDirectories(Root, Prefix + "*")
        .Select(path => (Ok: long.TryParse(System.IO.Path.GetFileName(path)[Prefix.Length..], NumberStyles.None, CultureInfo.InvariantCulture, out var sequence),
            Sequence: sequence, Path: path))
        .Where(c => c.Ok && File.Exists(System.IO.Path.Combine(c.Path, StateFile)))
        .OrderBy(c => c.Sequence)
        .Select(c => (c.Sequence, c.Path));
}
