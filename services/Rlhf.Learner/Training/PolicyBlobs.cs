using System.Globalization;

namespace Rlhf.Learner.Training;

/// <summary>How the learner names and formats the weight blobs of its policy versions.</summary>
public static class PolicyBlobs
{
    /// <summary>Format of the weight blobs: a full <c>model.safetensors</c> of the base architecture.</summary>
    public const string WeightsFormat = "safetensors";

    public static string Name(long version) => $"policy/{version.ToString(CultureInfo.InvariantCulture)}";
}
