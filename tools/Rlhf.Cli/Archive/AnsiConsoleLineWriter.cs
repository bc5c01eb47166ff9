using System.Text;
using Spectre.Console;

namespace Rlhf.Cli.Archive;

/// <summary>
/// A <see cref="TextWriter"/> whose lines go through a Spectre <see cref="IAnsiConsole"/> as plain text (no markup), so
/// that while that console shows a live progress display they print above it instead of through it.
/// </summary>
public sealed class AnsiConsoleLineWriter(IAnsiConsole console) : TextWriter
{
    readonly StringBuilder line = new();

    public override Encoding Encoding => Encoding.UTF8;

    public override void Write(char value)
    {
        if (value == '\n')
            EmitLine();
        else if (value != '\r')
            line.Append(value);
    }

    public override void Write(string? value)
    {
        foreach (var c in value ?? "")
            Write(c);
    }

    void EmitLine()
    {
        console.WriteLine(line.ToString());
        line.Clear();
    }

    protected override void Dispose(bool disposing)
    {
        if (disposing && line.Length > 0)
            EmitLine();
        base.Dispose(disposing);
    }
}
