using Spectre.Console;
using Spectre.Console.Rendering;

namespace Rlhf.Cli.Operations;

/// <summary>The operator commands' tables and panels: Spectre.Console widgets written to the command's output writer.</summary>
static class ConsoleTables
{
    /// <summary>Wide enough that a row is one line when the output is a file or a pipe (grep sees whole rows).</summary>
    const int RedirectedWidth = 4096;

    /// <summary>A table with a rule under its header and no vertical lines; a column whose header is empty is a marker, flush left.</summary>
    public static Table Create(params IEnumerable<(string Header, Justify Alignment)> columns)
    {
        var table = new Table().Border(TableBorder.Simple);
        foreach (var (header, alignment) in columns)
        {
            var column = new TableColumn(new Text(header)) { Alignment = alignment };
            table.AddColumn(header.Length == 0 ? column.PadLeft(0).PadRight(0) : column);
        }

        return table;
    }

    /// <summary>Adds a row of plain text (never markup: fault messages may hold brackets).</summary>
    public static void AddTextRow(this Table table, IEnumerable<string> cells) => table.AddRow(cells.Select(cell => new Text(cell)));

    /// <summary>
    /// Writes <paramref name="widget"/> to <paramref name="output"/>: at the terminal's width when it is the console's
    /// terminal, else without wrapping and without colour codes.
    /// </summary>
    public static void Write(IRenderable widget, TextWriter output)
    {
        var target = new AnsiConsoleOutput(output);
        var console = AnsiConsole.Create(new AnsiConsoleSettings
        {
            Out = target,
            Ansi = target.IsTerminal ? AnsiSupport.Detect : AnsiSupport.No,
            ColorSystem = target.IsTerminal ? ColorSystemSupport.Detect : ColorSystemSupport.NoColors,
            Interactive = InteractionSupport.No,
        });
        if (!target.IsTerminal)
            console.Profile.Width = RedirectedWidth;
        console.Write(widget);
    }
}
