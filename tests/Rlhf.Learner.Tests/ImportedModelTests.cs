using Rlhf.Learner.Training;
using Rlhf.Testing;
using static TorchSharp.torch;

namespace Rlhf.Learner.Tests;

/// <summary>An imported Hugging Face model directory is a valid Learner:ModelPath: actor, reference and critic load; its template and eos are used.</summary>
public sealed class ImportedModelTests : IDisposable
{
    readonly ImportedModel model = new();
    readonly string state = Directory.CreateTempSubdirectory("rlhf-learner-imported-").FullName;

    public void Dispose()
    {
        model.Dispose();
        Directory.Delete(state, recursive: true);
    }

    [Fact]
    public void Learner_models_load_from_an_imported_directory()
    {
        using var models = LearnerModels.Load(new LearnerOptions { ModelPath = model.Directory, StateDirectory = state }, CPU);

        Assert.True(models.Actor.Config.AttentionBias);
        Assert.True(models.Template.IsModelTemplate);
        Assert.Contains(259, models.StopTokenIds);
        Assert.Equal(ImportedModel.PromptFor("2+3?"), models.Template.Render([new("user", "2+3?")], addGenerationPrompt: true));
    }
}
