using System.CommandLine;
using Rlhf.Chaos;

// The harness handles Ctrl-C itself (it stops the services and servers it started), so System.CommandLine's handler is off.
return await ChaosCommand.Create().Parse(args).InvokeAsync(new InvocationConfiguration { ProcessTerminationTimeout = null });
