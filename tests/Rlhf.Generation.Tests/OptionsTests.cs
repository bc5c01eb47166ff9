using Microsoft.Extensions.Options;
using Rlhf.Generation.Tests.Support;

namespace Rlhf.Generation.Tests;

public sealed class OptionsTests
{
    [Theory]
    [InlineData("Generation:MaxN", "32", "MaxN")]
    [InlineData("Generation:MaxBatchSize", "0", "MaxBatchSize")]
    [InlineData("Generation:DefaultMaxTokens", "500", "DefaultMaxTokens")]
    [InlineData("Generation:ModelPath", "/nonexistent/checkpoint", "ModelPath")]
    [InlineData("Generation:InstanceId", "Not Allowed", "InstanceId")]
    [InlineData("Generation:CanaryShare", "1.5", "CanaryShare")]
    [InlineData("Generation:CanaryShare", "-0.1", "CanaryShare")]
    [InlineData("Generation:CanaryShare", "NaN", "CanaryShare")]
    public async Task Invalid_options_stop_the_host_with_a_message_naming_the_key(string key, string value, string member)
    {
        var error = await Assert.ThrowsAsync<OptionsValidationException>(async () =>
        {
            await using var host = new GenerationHost(modelPath: null, new Dictionary<string, string?> { [key] = value });
        });

        Assert.Contains(member, error.Message, StringComparison.Ordinal);
        Assert.Equal(typeof(GenerationOptions), error.OptionsType);
    }
}
