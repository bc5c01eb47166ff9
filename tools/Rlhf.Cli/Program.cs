using System.CommandLine;
using Microsoft.Extensions.Configuration;
using Rlhf.Cli;
using Rlhf.Hosting;

// The chaos harness is its own executable; it gets every argument as given, --help included.
if (args is [ChaosForwarder.Name, .. var harnessArguments])
    return await ChaosForwarder.RunAsync(harnessArguments);

// How glibc keeps LibTorch's freed memory, before training starts any thread (the services set it in AddServiceDefaults);
// NativeMemory__ArenaMax in the environment overrides the default.
GlibcMalloc.Configure(new ConfigurationBuilder().AddEnvironmentVariables().Build()
    .GetSection(NativeMemoryOptions.SectionName).Get<NativeMemoryOptions>() ?? new NativeMemoryOptions());

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
