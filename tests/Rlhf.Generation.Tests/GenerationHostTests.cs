using Rlhf.Testing;

namespace Rlhf.Generation.Tests;

public sealed class GenerationHostTests() : ServiceHostContract<Program>("rlhf-generation");
