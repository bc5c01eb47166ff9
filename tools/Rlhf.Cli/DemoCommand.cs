using System.CommandLine;

namespace Rlhf.Cli;

/// <summary><c>rlhf demo</c>: the whole online loop on the embedded default. Not built yet (see the README).</summary>
static class DemoCommand
{
    public const int NotImplementedExitCode = 3;

    public static Command Create()
    {
        var command = new Command("demo", "Run the whole online RLHF loop on the embedded default (not yet implemented).");
        command.SetAction(_ =>
        {
            Console.Error.WriteLine("rlhf demo: not yet implemented. The foundation (services, bus, stores, CI) is in place; " +
                "the model, trainers and the demo loop land with the modeling, training and demo issues.");
            return NotImplementedExitCode;
        });
        return command;
    }
}
