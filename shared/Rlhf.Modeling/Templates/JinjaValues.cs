using System.Globalization;
using System.Text;
using System.Text.Encodings.Web;
using System.Text.Json;
using Rlhf.Modeling.Tokenization;

namespace Rlhf.Modeling.Templates;

/// <summary>Jinja's undefined value: falsy, prints as nothing, any attribute of it is undefined too.</summary>
sealed class Undefined
{
    public static readonly Undefined Instance = new();
    Undefined() { }
}

/// <summary>The mutable object <c>namespace(...)</c> returns, so a loop can carry a value out.</summary>
sealed class Namespace(Dictionary<string, object?> values)
{
    public Dictionary<string, object?> Values { get; } = values;
}

/// <summary>A callable global such as <c>raise_exception</c> or <c>strftime_now</c>.</summary>
delegate object? JinjaFunction(IReadOnlyList<object?> arguments, IReadOnlyDictionary<string, object?> named);

/// <summary>
/// Text that is not all the template's own: message content stays untrusted through concatenation and filters, so
/// the rendered prompt can still be encoded with special tokens recognised only in trusted pieces.
/// </summary>
sealed class PieceText(IReadOnlyList<TextPiece> pieces)
{
    public IReadOnlyList<TextPiece> Pieces { get; } = pieces;
    public override string ToString() => string.Concat(Pieces.Select(p => p.Text));
}

static class JinjaValues
{
    public static bool IsString(object? value) => value is string or PieceText;

    public static bool Truthy(object? value) => value switch
    {
        null or Undefined => false,
        bool b => b,
        long l => l != 0,
        double d => d != 0,
        string s => s.Length > 0,
        PieceText p => p.ToString().Length > 0,
        System.Collections.ICollection c => c.Count > 0,
        Namespace => true,
        _ => true,
    };

    /// <summary>Python's str() of a value, as Jinja prints it.</summary>
    public static string Str(object? value) => value switch
    {
        null => "None",
        Undefined => "",
        bool b => b ? "True" : "False",
        long l => l.ToString(CultureInfo.InvariantCulture),
        double d => PythonFloat(d),
        string s => s,
        PieceText p => p.ToString(),
        List<object?> list => "[" + string.Join(", ", list.Select(Repr)) + "]",
        Dictionary<string, object?> dict => "{" + string.Join(", ", dict.Select(kv => $"{Repr(kv.Key)}: {Repr(kv.Value)}")) + "}",
        _ => value.ToString() ?? "",
    };

    static string Repr(object? value) => IsString(value) ? "'" + Str(value).Replace("\\", "\\\\").Replace("'", "\\'") + "'" : Str(value);

    static string PythonFloat(double d)
    {
        if (double.IsNaN(d)) return "nan";
        if (double.IsInfinity(d)) return d > 0 ? "inf" : "-inf";
        var text = d.ToString("R", CultureInfo.InvariantCulture);
        return text.Contains('.') || text.Contains('E') ? text : text + ".0";
    }

    /// <summary>The pieces a value prints as: message content untrusted, everything else trusted.</summary>
    public static IEnumerable<TextPiece> Pieces(object? value) =>
        value is PieceText p ? p.Pieces : [new TextPiece(Str(value), Trusted: true)];

    public static bool Trusted(object? value) => value is not PieceText;

    /// <summary>String concatenation keeping the trust of each part.</summary>
    public static object Concat(object? left, object? right)
    {
        if (Trusted(left) && Trusted(right))
            return Str(left) + Str(right);
        return new PieceText([.. Pieces(left), .. Pieces(right)]);
    }

    /// <summary>A string derived from <paramref name="source"/>: untrusted as a whole if any of it was.</summary>
    public static object Derived(object? source, string text) =>
        Trusted(source) ? text : new PieceText([new TextPiece(text, Trusted: false)]);

    /// <summary>Python's strip() on pieces: whitespace goes from the outer ends, each piece keeps its trust.</summary>
    public static object Trim(object? value)
    {
        if (value is not PieceText text)
            return Str(value).Trim();
        var pieces = text.Pieces.Select(p => p.Text).ToList();
        for (var i = 0; i < pieces.Count; i++)
        {
            pieces[i] = pieces[i].TrimStart();
            if (pieces[i].Length > 0) break;
        }
        for (var i = pieces.Count - 1; i >= 0; i--)
        {
            pieces[i] = pieces[i].TrimEnd();
            if (pieces[i].Length > 0) break;
        }
        return new PieceText(text.Pieces.Select((p, i) => p with { Text = pieces[i] }).ToList());
    }

    public static bool Equal(object? left, object? right) => (left, right) switch
    {
        (null, null) => true,
        (Undefined, Undefined) => true,
        _ when IsString(left) && IsString(right) => Str(left) == Str(right),
        _ when IsNumber(left) && IsNumber(right) => ToDouble(left) == ToDouble(right),
        (List<object?> a, List<object?> b) => a.Count == b.Count && a.Zip(b).All(p => Equal(p.First, p.Second)),
        _ => Equals(left, right),
    };

    public static bool IsNumber(object? value) => value is long or double or bool;

    public static double ToDouble(object? value) => value switch
    {
        long l => l,
        double d => d,
        bool b => b ? 1 : 0,
        _ => throw new TemplateException($"'{Str(value)}' is not a number."),
    };

    /// <summary>transformers' tojson filter: json.dumps(value, ensure_ascii=False, indent=indent, sort_keys=False).</summary>
    public static string ToJson(object? value, int? indent)
    {
        var builder = new StringBuilder();
        WriteJson(builder, value, indent, 0);
        return builder.ToString();
    }

    static void WriteJson(StringBuilder builder, object? value, int? indent, int depth)
    {
        string Newline(int level) => indent is { } n ? "\n" + new string(' ', n * level) : "";
        switch (value)
        {
            case null or Undefined: builder.Append("null"); break;
            case bool b: builder.Append(b ? "true" : "false"); break;
            case long l: builder.Append(l.ToString(CultureInfo.InvariantCulture)); break;
            case double d: builder.Append(PythonFloat(d)); break;
            case string or PieceText:
                builder.Append(JsonSerializer.Serialize(Str(value), PythonJson));
                break;
            case List<object?> list:
                if (list.Count == 0) { builder.Append("[]"); break; }
                builder.Append('[');
                for (var i = 0; i < list.Count; i++)
                {
                    builder.Append(i == 0 ? "" : indent is null ? ", " : ",").Append(Newline(depth + 1));
                    WriteJson(builder, list[i], indent, depth + 1);
                }
                builder.Append(Newline(depth)).Append(']');
                break;
            case Dictionary<string, object?> dict:
                if (dict.Count == 0) { builder.Append("{}"); break; }
                builder.Append('{');
                var first = true;
                foreach (var (key, item) in dict)
                {
                    builder.Append(first ? "" : indent is null ? ", " : ",").Append(Newline(depth + 1));
                    first = false;
                    builder.Append(JsonSerializer.Serialize(key, PythonJson)).Append(": ");
                    WriteJson(builder, item, indent, depth + 1);
                }
                builder.Append(Newline(depth)).Append('}');
                break;
            default:
                throw new TemplateException($"tojson cannot write a {value.GetType().Name}.");
        }
    }

    // ensure_ascii=False: only quotes, backslashes and control characters are escaped, as Python's json does.
    static readonly JsonSerializerOptions PythonJson = new() { Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping };

    /// <summary>Converts configuration-style .NET values (JSON from tokenizer files, messages) to template values.</summary>
    public static object? FromJson(JsonElement element) => element.ValueKind switch
    {
        JsonValueKind.String => element.GetString(),
        JsonValueKind.Number => element.TryGetInt64(out var l) ? l : element.GetDouble(),
        JsonValueKind.True => true,
        JsonValueKind.False => false,
        JsonValueKind.Array => element.EnumerateArray().Select(FromJson).ToList(),
        JsonValueKind.Object => element.EnumerateObject().ToDictionary(p => p.Name, p => FromJson(p.Value)),
        _ => null,
    };
}
