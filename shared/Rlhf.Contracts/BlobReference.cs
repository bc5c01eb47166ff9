namespace Rlhf.Contracts;

/// <summary>Claim check for weights: events carry this, never the bytes.</summary>
/// <param name="Uri">Where the blob lives, e.g. <c>redis://blob/policy/7/{sha256}</c> or <c>file:///models/policy-7.safetensors</c>.</param>
/// <param name="Sha256">Lower-case hex SHA-256 of the whole blob; consumers refuse a blob that does not match.</param>
/// <param name="Bytes">Size of the blob in bytes.</param>
/// <param name="Format">Content format, e.g. <c>safetensors</c> or <c>safetensors-lora</c> (adapters only).</param>
public sealed record BlobReference(string Uri, string Sha256, long Bytes, string Format);
