namespace Rlhf.Modeling;

/// <summary>
/// The adapter blob the learner publishes (format <see cref="Format"/>): one PEFT-layout <c>adapter_model.safetensors</c>
/// (float32, keys <c>base_model.model.{module}.lora_A.weight</c>) whose safetensors metadata also holds the
/// <c>adapter_config.json</c> content under <see cref="ConfigKey"/>, so one blob is enough to rebuild the adapter. Saved as
/// a file it is a valid PEFT adapter (next to the config written by <see cref="ModelCheckpoint.SaveAdapters"/>).
/// </summary>
public static class LoraAdapterBlob
{
    /// <summary>Blob format of LoRA adapters (full weights are <c>safetensors</c>).</summary>
    public const string Format = "safetensors-lora";

    /// <summary>Safetensors metadata key holding the adapter_config.json content.</summary>
    public const string ConfigKey = "adapter_config";

    public static byte[] Write(LoraAdapter adapter)
    {
        var path = Path.Combine(Path.GetTempPath(), $"rlhf-adapter-{Guid.NewGuid():N}.safetensors");
        try
        {
            adapter.SaveTo(path);
            return File.ReadAllBytes(path);
        }
        finally
        {
            File.Delete(path);
        }
    }

    /// <summary>Reads a blob written by <see cref="Write"/>; a blob that is not one is an <see cref="InvalidDataException"/>.</summary>
    public static LoraAdapter Read(byte[] blob)
    {
        var path = Path.Combine(Path.GetTempPath(), $"rlhf-adapter-{Guid.NewGuid():N}.safetensors");
        try
        {
            File.WriteAllBytes(path, blob);
            return LoraAdapter.LoadFrom(path, configJson: null);
        }
        finally
        {
            File.Delete(path);
        }
    }
}
