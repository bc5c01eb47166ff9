namespace Rlhf.Generation.Policy;

/// <summary>How a LoRA version is served (<c>Generation:LoraServing</c>); see <see cref="AdapterBase"/>.</summary>
public enum LoraServing
{
    /// <summary>Adapters applied at every forward on the shared base weights: swaps cost the adapter's size.</summary>
    Shared,

    /// <summary>Adapters merged into a full copy of the base: decoding at full-weight speed, swaps copy the model.</summary>
    Merged,
}
