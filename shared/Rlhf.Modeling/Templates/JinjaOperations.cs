using System.Globalization;
using static Rlhf.Modeling.Templates.JinjaValues;

namespace Rlhf.Modeling.Templates;

/// <summary>Operators, filters, tests and string/dict methods the supported chat templates use; others are named errors.</summary>
static class JinjaOperations
{
    public static object? Binary(string op, object? left, object? right)
    {
        switch (op)
        {
            case "~": return Concat(left, right);
            case "==": return Equal(left, right);
            case "!=": return !Equal(left, right);
            case "in": return Contains(right, left);
            case "+" when IsString(left) && IsString(right): return Concat(left, right);
            case "+" when left is List<object?> a && right is List<object?> b: return a.Concat(b).ToList();
            case "+" when IsString(left) || IsString(right):
                throw new TemplateException($"Cannot add '{Str(left)}' and '{Str(right)}' (a string and a non-string).");
        }
        if (op is "<" or ">" or "<=" or ">=")
        {
            var order = IsString(left) && IsString(right) ? string.CompareOrdinal(Str(left), Str(right)) : ToDouble(left).CompareTo(ToDouble(right));
            return op switch { "<" => order < 0, ">" => order > 0, "<=" => order <= 0, _ => order >= 0 };
        }
        if (op == "*" && IsString(left) && right is long times)
            return Derived(left, string.Concat(Enumerable.Repeat(Str(left), (int)Math.Max(0, times))));
        if (left is long x && right is long y && op is not "/")
        {
            return op switch
            {
                "+" => x + y,
                "-" => x - y,
                "*" => x * y,
                "//" => y == 0 ? throw new TemplateException("Division by zero.") : (long)Math.Floor((double)x / y),
                "%" => y == 0 ? throw new TemplateException("Division by zero.") : ((x % y) + y) % y,
                _ => throw new TemplateException($"Operator '{op}' is not supported."),
            };
        }
        var l = ToDouble(left);
        var r = ToDouble(right);
        return op switch
        {
            "+" => l + r,
            "-" => l - r,
            "*" => l * r,
            "/" => l / r,
            "//" => Math.Floor(l / r),
            "%" => l - r * Math.Floor(l / r),
            _ => throw new TemplateException($"Operator '{op}' is not supported."),
        };
    }

    static bool Contains(object? container, object? item) => container switch
    {
        string or PieceText => Str(container).Contains(Str(item), StringComparison.Ordinal),
        List<object?> list => list.Any(x => Equal(x, item)),
        Dictionary<string, object?> dict => IsString(item) && dict.ContainsKey(Str(item)),
        Namespace ns => IsString(item) && ns.Values.ContainsKey(Str(item)),
        Undefined => throw new TemplateException($"Cannot test '{Str(item)}' in an undefined value."),
        _ => throw new TemplateException($"Cannot test membership in '{Str(container)}'."),
    };

    public static object? Filter(string name, object? value, List<object?> arguments, Dictionary<string, object?> named)
    {
        object? Argument(int index, string key, object? otherwise) =>
            index < arguments.Count ? arguments[index] : named.TryGetValue(key, out var v) ? v : otherwise;
        switch (name)
        {
            case "trim": return Trim(value);
            case "length" or "count":
                return value switch
                {
                    string or PieceText => (long)Str(value).Length,
                    System.Collections.ICollection c => (long)c.Count,
                    Undefined => 0L,
                    _ => throw new TemplateException($"'{Str(value)}' has no length."),
                };
            case "tojson":
                var indent = Argument(0, "indent", null);
                var json = ToJson(value, indent is long n ? (int)n : null);
                return Derived(HasUntrusted(value) ? new PieceText([]) : null, json);
            case "upper": return Derived(value, Str(value).ToUpperInvariant());
            case "lower": return Derived(value, Str(value).ToLowerInvariant());
            case "capitalize":
                var text = Str(value);
                return Derived(value, text.Length == 0 ? text : char.ToUpperInvariant(text[0]) + text[1..].ToLowerInvariant());
            case "string": return IsString(value) ? value : Str(value);
            case "safe": return value;
            case "default" or "d":
                var fallback = Argument(0, "default_value", "");
                var boolean = Argument(1, "boolean", false);
                return value is Undefined || (Truthy(boolean) && !Truthy(value)) ? fallback : value;
            case "first": return value is List<object?> { Count: > 0 } f ? f[0] : IsString(value) && Str(value).Length > 0 ? Derived(value, Str(value)[..1]) : Undefined.Instance;
            case "last": return value is List<object?> { Count: > 0 } g ? g[^1] : IsString(value) && Str(value).Length > 0 ? Derived(value, Str(value)[^1..]) : Undefined.Instance;
            case "list": return value is List<object?> list ? list : Iterate(value);
            case "reverse": return value is List<object?> r ? Enumerable.Reverse(r).ToList() : Derived(value, new string(Str(value).Reverse().ToArray()));
            case "join":
                var separator = Argument(0, "d", "");
                var items = value as List<object?> ?? throw new TemplateException("join needs a list.");
                object joined = "";
                for (var i = 0; i < items.Count; i++)
                    joined = Concat(i == 0 ? joined : Concat(joined, separator), items[i]);
                return joined;
            case "replace":
                return Derived(HasUntrusted(value) || HasUntrusted(Argument(1, "new", "")) ? new PieceText([]) : null,
                    Str(value).Replace(Str(Argument(0, "old", "")), Str(Argument(1, "new", "")), StringComparison.Ordinal));
            case "int":
                return value switch
                {
                    long l => l,
                    double d => (long)d,
                    bool b => b ? 1L : 0L,
                    _ => long.TryParse(Str(value).Trim(), NumberStyles.Integer, CultureInfo.InvariantCulture, out var parsed) ? parsed : 0L,
                };
            case "float": return value is long or double ? ToDouble(value) : double.TryParse(Str(value), CultureInfo.InvariantCulture, out var f2) ? f2 : 0.0;
            case "items":
                return value is Dictionary<string, object?> dict
                    ? dict.Select(kv => (object?)new List<object?> { kv.Key, kv.Value }).ToList()
                    : throw new TemplateException("items needs a mapping.");
        }
        throw new TemplateException($"Filter '{name}' is not supported.");
    }

    static List<object?> Iterate(object? value) => value switch
    {
        Dictionary<string, object?> dict => dict.Keys.Select(k => (object?)k).ToList(),
        string or PieceText => Str(value).Select(c => Derived(value, c.ToString())).ToList<object?>(),
        _ => throw new TemplateException($"Cannot make a list of '{Str(value)}'."),
    };

    static bool HasUntrusted(object? value) => value switch
    {
        PieceText => true,
        List<object?> list => list.Any(HasUntrusted),
        Dictionary<string, object?> dict => dict.Values.Any(HasUntrusted),
        _ => false,
    };

    public static bool Test(string name, object? value, List<object?> arguments) => name switch
    {
        "defined" => value is not Undefined,
        "undefined" => value is Undefined,
        "none" => value is null,
        "string" => IsString(value),
        "number" => value is long or double,
        "integer" => value is long,
        "float" => value is double,
        "boolean" => value is bool,
        "true" => value is true,
        "false" => value is false,
        "mapping" => value is Dictionary<string, object?> or Namespace,
        "iterable" => value is List<object?> or Dictionary<string, object?> or string or PieceText,
        "sequence" => value is List<object?> or Dictionary<string, object?> or string or PieceText,
        "callable" => value is JinjaFunction,
        "odd" => value is long o && o % 2 != 0,
        "even" => value is long e && e % 2 == 0,
        "equalto" or "eq" or "==" => arguments.Count == 1 && Equal(value, arguments[0]),
        "ne" => arguments.Count == 1 && !Equal(value, arguments[0]),
        "in" => arguments.Count == 1 && Contains(arguments[0], value),
        _ => throw new TemplateException($"Test 'is {name}' is not supported."),
    };

    public static object? Method(object? target, string name, List<object?> arguments)
    {
        if (IsString(target))
        {
            var s = Str(target);
            string Chars(int i) => i < arguments.Count && arguments[i] is not null ? Str(arguments[i]) : "";
            switch (name)
            {
                case "strip": return arguments.Count == 0 ? Trim(target) : Derived(target, s.Trim(Chars(0).ToCharArray()));
                case "lstrip": return Derived(target, arguments.Count == 0 ? s.TrimStart() : s.TrimStart(Chars(0).ToCharArray()));
                case "rstrip": return Derived(target, arguments.Count == 0 ? s.TrimEnd() : s.TrimEnd(Chars(0).ToCharArray()));
                case "startswith": return s.StartsWith(Chars(0), StringComparison.Ordinal);
                case "endswith": return s.EndsWith(Chars(0), StringComparison.Ordinal);
                case "upper": return Derived(target, s.ToUpperInvariant());
                case "lower": return Derived(target, s.ToLowerInvariant());
                case "replace": return Derived(target, s.Replace(Chars(0), Chars(1), StringComparison.Ordinal));
                case "split":
                    var parts = arguments.Count == 0 ? s.Split((char[]?)null, StringSplitOptions.RemoveEmptyEntries) : s.Split(Chars(0));
                    return parts.Select(p => Derived(target, p)).ToList<object?>();
            }
        }
        if (target is Dictionary<string, object?> dict)
        {
            switch (name)
            {
                case "items": return dict.Select(kv => (object?)new List<object?> { kv.Key, kv.Value }).ToList();
                case "keys": return dict.Keys.Select(k => (object?)k).ToList();
                case "values": return dict.Values.ToList();
                case "get": return dict.TryGetValue(Str(arguments.ElementAtOrDefault(0)), out var v) ? v : arguments.ElementAtOrDefault(1);
            }
        }
        throw new TemplateException($"Method '{name}' of '{Str(target)}' is not supported.");
    }
}
