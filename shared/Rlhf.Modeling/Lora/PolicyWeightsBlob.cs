using static TorchSharp.torch;

namespace Rlhf.Modeling;

/// <summary>
/// A published policy version's weight blob as a model: full weights (<see cref="FullFormat"/>), or LoRA adapters
/// (<see cref="LoraAdapterBlob.Format"/>) merged into the base checkpoint they were trained on, which must be the one in
/// the given directory (its <see cref="ModelCheckpoint.WeightsSha256"/> equal to the blob's base sha256).
/// </summary>
public static class PolicyWeightsBlob
{
    public const string FullFormat = "safetensors";

    public static bool IsAdapter(string format) => string.Equals(format, LoraAdapterBlob.Format, StringComparison.Ordinal);

    /// <summary>Why adapters trained on <paramref name="adapterBase"/> cannot apply to a base whose weights hash to <paramref name="servedBase"/>, or null when they can.</summary>
    public static string? BaseMismatch(string? adapterBase, string servedBase) =>
        adapterBase is null
            ? "the adapter blob names no base weights (BaseSha256 is missing)"
            : !string.Equals(adapterBase, servedBase, StringComparison.OrdinalIgnoreCase)
                ? $"the adapters were trained on base weights sha256 {Short(adapterBase)}, this base checkpoint is {Short(servedBase)}"
                : null;

    /// <summary>Builds the policy a blob describes on top of <paramref name="baseDirectory"/>; unusable bytes are an <see cref="InvalidDataException"/>.</summary>
    public static CausalLM Load(string baseDirectory, byte[] blob, string format, string? baseSha256, Device? device = null)
    {
        if (string.Equals(format, FullFormat, StringComparison.Ordinal))
            return ModelCheckpoint.LoadPolicyFromWeights(baseDirectory, blob, device);
        if (!IsAdapter(format))
            throw new InvalidDataException($"blob format '{format}' is neither '{FullFormat}' nor '{LoraAdapterBlob.Format}'");
        if (BaseMismatch(baseSha256, ModelCheckpoint.WeightsSha256(baseDirectory)) is { } mismatch)
            throw new InvalidDataException(mismatch);
        using var adapter = LoraAdapterBlob.Read(blob);
        var model = ModelCheckpoint.LoadPolicy(baseDirectory, device);
        try
        {
            adapter.MergeInto(model);
            return model;
        }
        catch
        {
            model.Dispose();
            throw;
        }
    }

    static string Short(string sha) => sha.Length > 12 ? sha[..12] : sha;
}
