using Microsoft.Extensions.Options;
using Rlhf.Generation.Apis;
using Rlhf.Generation.Policy;
using Rlhf.Storage;
using Rlhf.Testing;

namespace Rlhf.Generation.Tests;

/// <summary>An imported Hugging Face model directory is a valid Generation:ModelPath: loaded, templated, stopped on its eos.</summary>
public sealed class ImportedModelServingTests : IDisposable
{
    readonly ImportedModel model = new();

    public void Dispose() => model.Dispose();

    [Fact]
    public void Imported_directory_loads_as_the_base_policy_with_its_template_and_eos()
    {
        var loader = new PolicyLoader(new InMemoryBlobStore(), Options.Create(new GenerationOptions { Device = "cpu" }));

        var (policyBase, served) = loader.LoadBase(model.Directory);
        using var _ = served;
        var (chat, errors) = ChatRequestValidator.Prepare(new ChatCompletionRequest
        {
            Messages = [new ChatCompletionMessage { Role = "user", Content = "hi" }],
        }, policyBase, new GenerationOptions());

        Assert.Empty(errors);
        Assert.True(served.Model.Config.AttentionBias);
        Assert.True(policyBase.Template.IsModelTemplate);
        Assert.Equal(ImportedModel.PromptFor("hi"), chat!.PromptText);
        Assert.StartsWith("<|im_start|>system\nYou are imported.", chat.PromptText);
        Assert.Contains(259, policyBase.StopTokenIds);
    }
}
