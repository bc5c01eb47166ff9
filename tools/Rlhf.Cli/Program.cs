using System.CommandLine;
using Rlhf.Cli;

// The chaos harness is its own executable; it gets every argument as given, --help included.
if (args is [ChaosForwarder.Name, .. var harnessArguments])
    return await ChaosForwarder.RunAsync(harnessArguments);

var root = new RootCommand("rlhf: online RLHF from live users. Operate, demo and benchmark the platform.");
root.Subcommands.Add(DemoCommand.Create());
root.Subcommands.Add(DoctorCommand.Create());
root.Subcommands.Add(Rlhf.Cli.Bench.BenchCommand.Create());
foreach (var command in Rlhf.Cli.Demo.DemoTaskCommands.Create()) root.Subcommands.Add(command);
root.Subcommands.Add(Rlhf.Cli.Study.StudyCommand.Create());
root.Subcommands.Add(Rlhf.Cli.Archive.ReplayCommand.Create());
root.Subcommands.Add(Rlhf.Cli.Archive.ExportCommand.Create());
root.Subcommands.Add(Rlhf.Cli.Archive.ArchiveCommand.Create());
root.Subcommands.Add(Rlhf.Cli.Operations.PolicyCommand.Create());
root.Subcommands.Add(Rlhf.Cli.Up.UpCommand.Create());
root.Subcommands.Add(Rlhf.Cli.Operations.ErrorsCommand.Create());
root.Subcommands.Add(Rlhf.Cli.Models.ModelCommand.Create());
root.Subcommands.Add(Rlhf.Cli.Data.DataCommand.Create());
root.Subcommands.Add(ChaosForwarder.Create());
// Commands handle Ctrl-C themselves (the demo still writes its report), so System.CommandLine's handler is off.
return await root.Parse(args).InvokeAsync(new InvocationConfiguration { ProcessTerminationTimeout = null });
