using System.CommandLine;
using System.Globalization;
using Rlhf.Cli.Demo;
using Rlhf.Demo.Studies;
using Rlhf.Modeling;

namespace Rlhf.Cli.Study;

/// <summary>
/// <c>rlhf study &lt;name&gt;</c>: one of the experiments of <see cref="StudyCatalog"/> on the offline loop (real trainers, no
/// bus), over the given seeds; prints its tables and writes report.md, plots and results.json under runs/.
/// </summary>
static class StudyCommand
{
    public static Command Create()
    {
        var name = new Argument<string>("name") { Description = "sft-vs-rlhf | forgetting | data | scale | peft" };
        name.AcceptOnlyFromAmong([.. StudyCatalog.All.Select(s => s.Name)]);
        var seeds = new Option<string>("--seeds") { Description = "Comma-separated seeds; numbers are reported as mean ± sd over them", DefaultValueFactory = _ => "1,2,3" };
        var size = new Option<string>("--size")
        {
            Description = "default (the README's tables), small (quicker), ci (machinery check only: a model too small to learn)",
            DefaultValueFactory = _ => StudySize.Default.Name,
        };
        size.AcceptOnlyFromAmong([.. StudySize.All.Select(s => s.Name)]);
        var output = new Option<string?>("--out") { Description = "Run folder (default: runs/study-<name>-<UTC stamp> under the current directory)" };
        var threads = DemoTaskCommands.ThreadsOption();
        var cache = DemoTaskCommands.CacheOption();
        var command = new Command("study",
            "Run a study anyone can rerun (SFT vs RLHF, forgetting, data needed, model size, LoRA): prints its tables, writes report.md, " +
            "PNG plots and results.json.") { name, seeds, size, output, threads, cache };
        command.SetAction((parse, cancellationToken) =>
        {
            if (!TryParseSeeds(parse.GetValue(seeds)!, out var seedList, out var error))
            {
                Console.Error.WriteLine(error);
                return Task.FromResult(2);
            }

            TorchRuntime.SetThreads(parse.GetValue(threads));
            var study = StudyCatalog.Find(parse.GetValue(name)!);
            var studySize = StudySize.Parse(parse.GetValue(size)!);
            var directory = parse.GetValue(output)
                ?? Path.Combine("runs", $"study-{study.Name}-{DateTime.UtcNow.ToString("yyyyMMdd-HHmmss", CultureInfo.InvariantCulture)}");
            var context = new StudyContext(studySize, seedList, parse.GetValue(cache) ?? DemoTaskCommands.DefaultCacheRoot(), Console.WriteLine);
            Console.WriteLine($"study {study.Name}: {study.Question}");
            Console.WriteLine($"size {studySize.Name}, seeds {string.Join(",", seedList)}, {TorchRuntime.Describe()}");
            var report = study.Run(context, cancellationToken);
            StudyReportWriter.Write(directory, report,
                $"rlhf study {study.Name} --seeds {string.Join(",", seedList)} --size {studySize.Name}");
            Console.WriteLine();
            Console.WriteLine(StudyReportWriter.Tables(report));
            Console.WriteLine($"study {study.Name}: {report.Seconds / 60:F1} min; report in {Path.GetFullPath(directory)}");
            return Task.FromResult(0);
        });
        return command;
    }

    /// <summary>"1,2,3" into distinct seeds; a clear message otherwise.</summary>
    public static bool TryParseSeeds(string text, out IReadOnlyList<int> seeds, out string error)
    {
        var parts = text.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries);
        var parsed = new List<int>();
        foreach (var part in parts)
        {
            if (!int.TryParse(part, NumberStyles.Integer, CultureInfo.InvariantCulture, out var seed) || seed < 0)
            {
                seeds = [];
                error = $"--seeds expects comma-separated non-negative integers (e.g. 1,2,3); '{part}' is not one.";
                return false;
            }

            parsed.Add(seed);
        }

        seeds = parsed.Distinct().ToList();
        error = seeds.Count == 0 ? "--seeds needs at least one seed (e.g. 1,2,3)." : "";
        return seeds.Count > 0;
    }
}
