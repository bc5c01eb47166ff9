using System.CommandLine;
using Rlhf.Modeling.Import;

namespace Rlhf.Cli.Models;

/// <summary><c>rlhf model import|verify</c>: bring a Hugging Face model directory into the platform and check it.</summary>
public static class ModelCommand
{
    public static Command Create()
    {
        var command = new Command("model", "Import and verify Hugging Face models (Llama, SmolLM2, Qwen2/2.5 families).");
        command.Subcommands.Add(Import());
        command.Subcommands.Add(Verify());
        return command;
    }

    static Command Import()
    {
        var source = new Argument<string>("hf-dir") { Description = "Hugging Face model directory: config.json, safetensors (one file or sharded), tokenizer files" };
        var output = new Option<string?>("--out") { Description = "Checkpoint directory to write (default: <hf-dir>-rlhf); must be empty or absent" };
        var version = new Option<long>("--version") { Description = "Policy version recorded in rlhf_checkpoint.json", DefaultValueFactory = _ => 0 };
        var command = new Command("import", "Convert a Hugging Face model directory into a checkpoint the services accept as ModelPath.")
        {
            source, output, version,
        };
        command.SetAction(parse =>
        {
            var from = parse.GetValue(source)!;
            var to = parse.GetValue(output) ?? Path.TrimEndingDirectorySeparator(Path.GetFullPath(from)) + "-rlhf";
            return Run(parse.InvocationConfiguration.Output, parse.InvocationConfiguration.Error, () =>
            {
                var report = ModelImporter.Import(from, to, parse.GetValue(version));
                return [$"imported {from} -> {to}", .. Describe(report), $"use it as ModelPath: Generation:ModelPath={to}"];
            });
        });
        return command;
    }

    static Command Verify()
    {
        var directory = new Argument<string>("dir") { Description = "Checkpoint or Hugging Face model directory" };
        var command = new Command("verify", "Check that the services can load a model directory: config, weights, tokenizer, chat template, one forward pass.")
        {
            directory,
        };
        command.SetAction(parse => Run(parse.InvocationConfiguration.Output, parse.InvocationConfiguration.Error, () =>
            ["ok " + parse.GetValue(directory), .. Describe(ModelImporter.Verify(parse.GetValue(directory)!))]));
        return command;
    }

    static IEnumerable<string> Describe(ImportReport report)
    {
        var c = report.Config;
        yield return $"architecture   {report.Architecture} (model_type {c.ModelType}), {report.Parameters:N0} parameters, {c.TorchDtype}";
        yield return $"shape          {c.NumHiddenLayers} layers, hidden {c.HiddenSize}, heads {c.NumAttentionHeads}/{c.NumKeyValueHeads} kv, " +
                     $"vocab {c.VocabSize}, context {c.MaxPositionEmbeddings}";
        yield return $"attention      q/k/v bias {(c.AttentionBias ? "yes" : "no")}, rope_theta {c.RopeTheta}, rope_scaling " +
                     (c.RopeScaling is null ? "none" : $"{c.RopeScaling.Type} (factor {c.RopeScaling.Factor})") +
                     $", tied embeddings {(c.TieWordEmbeddings ? "yes" : "no")}";
        yield return $"special ids    bos {c.BosTokenId?.ToString() ?? "none"}, eos [{string.Join(", ", c.EosTokenIds())}], pad {c.PadTokenId?.ToString() ?? "none"}";
        yield return $"chat template  {report.ChatTemplate}";
        yield return $"sample prompt  {report.SamplePrompt.ReplaceLineEndings("\\n")}";
        foreach (var note in report.Notes)
            yield return $"note           {note}";
    }

    static int Run(TextWriter output, TextWriter error, Func<IEnumerable<string>> body)
    {
        try
        {
            foreach (var line in body())
                output.WriteLine(line);
            return 0;
        }
        catch (Exception failure) when (failure is IOException or InvalidDataException or UnauthorizedAccessException or ArgumentException)
        {
            error.WriteLine($"error: {failure.Message}");
            return 1;
        }
    }
}
