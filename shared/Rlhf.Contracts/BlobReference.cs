namespace Rlhf.Contracts;

/// <summary>Claim check for weights: events carry this, never the bytes.</summary>
/// <param name="Uri">Where the blob lives, e.g. <c>redis://blob/policy/7/{sha256}</c> or <c>file:///models/policy-7.safetensors</c>.</param>
/// <param name="Sha256">Lower-case hex SHA-256 of the whole blob; consumers refuse a blob that does not match.</param>
/// <param name="Bytes">Size of the blob in bytes.</param>
/// <param name="Format">Content format: <c>safetensors</c> (full weights) or <c>safetensors-lora</c> (LoRA adapters only, PEFT
/// key names, the <c>adapter_config.json</c> content in the safetensors metadata under <c>adapter_config</c>).</param>
/// <param name="BaseSha256">For <c>safetensors-lora</c>: lower-case hex SHA-256 of the full base weights
/// (<c>model.safetensors</c>) the adapters were trained on; a consumer serving other base weights refuses them. Null for
/// full weights (added later: older producers never set it, older consumers ignore it).</param>
public sealed record BlobReference(string Uri, string Sha256, long Bytes, string Format, string? BaseSha256 = null);
