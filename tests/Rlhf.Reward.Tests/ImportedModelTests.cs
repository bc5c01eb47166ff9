using Rlhf.Reward.Training;
using Rlhf.Testing;

namespace Rlhf.Reward.Tests;

/// <summary>An imported Hugging Face model directory is a valid Reward:ModelPath: its trunk starts the RM, its template renders.</summary>
public sealed class ImportedModelTests : IDisposable
{
    readonly ImportedModel model = new();

    public void Dispose() => model.Dispose();

    [Fact]
    public void Reward_network_starts_from_an_imported_policy_and_uses_its_template()
    {
        using var network = new RewardNetwork(new RewardOptions { ModelPath = model.Directory, Device = "cpu" });

        Assert.True(network.Template.IsModelTemplate);
        Assert.Equal(ImportedModel.PromptFor("hi"), network.Template.Render([new("user", "hi")], addGenerationPrompt: true));
        Assert.Equal(network.Tokenizer.SpecialTokens["<|im_end|>"], network.Template.EndOfTurnId(network.Tokenizer));
    }
}
