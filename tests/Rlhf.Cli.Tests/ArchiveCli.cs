using System.CommandLine;
using Rlhf.Cli.Archive;
using Rlhf.Testing;

namespace Rlhf.Cli.Tests;

/// <summary>The archive commands (<c>replay</c>, <c>archive</c>, <c>export</c>) run in-process against an <see cref="ArchiveTestBed"/>.</summary>
public static class ArchiveCli
{
    static CancellationToken Cancel => TestContext.Current.CancellationToken;

    /// <summary>Runs <c>rlhf</c> in-process with the archive commands; returns exit code, stdout lines and stderr.</summary>
    public static async Task<(int Code, string[] Out, string Error)> RunCliAsync(params string[] args)
    {
        var root = new RootCommand { ReplayCommand.Create(), ArchiveCommand.Create(), ExportCommand.Create() };
        var output = new StringWriter();
        var error = new StringWriter();
        var code = await root.Parse(args).InvokeAsync(new InvocationConfiguration { Output = output, Error = error }, Cancel);
        return (code, output.ToString().Split('\n', StringSplitOptions.RemoveEmptyEntries), error.ToString());
    }

    /// <summary>The options that point <c>rlhf archive index</c> and <c>rlhf replay --archive</c> at <paramref name="bed"/>'s archive.</summary>
    public static string[] SourceArguments(this ArchiveTestBed bed) =>
        ["--rabbitmq", ArchiveTestBed.RabbitMq.ToString(), "--redis", ArchiveTestBed.RedisAddress, "--key-prefix", bed.KeyPrefix, "--queue", bed.Queue];
}
