using System.Globalization;
using Rlhf.Modeling.Tokenization;

namespace Rlhf.Modeling.Templates;

/// <summary>Walks the parsed template with Jinja2's scoping: a for loop's body has its own scope, if does not.</summary>
sealed class JinjaInterpreter
{
    readonly List<Dictionary<string, object?>> scopes;
    readonly List<TextPiece> output = [];

    sealed class LoopSignal(bool isBreak) : Exception
    {
        public bool IsBreak { get; } = isBreak;
    }

    JinjaInterpreter(Dictionary<string, object?> globals) => scopes = [globals, new Dictionary<string, object?>()];

    public static List<TextPiece> Render(IReadOnlyList<Node> nodes, Dictionary<string, object?> globals)
    {
        var interpreter = new JinjaInterpreter(globals);
        try
        {
            interpreter.Run(nodes);
        }
        catch (LoopSignal)
        {
            throw new TemplateException("break or continue outside a for loop.");
        }
        return interpreter.output;
    }

    void Run(IReadOnlyList<Node> nodes)
    {
        foreach (var node in nodes)
        {
            switch (node)
            {
                case TextNode text:
                    output.Add(new TextPiece(text.Text, Trusted: true));
                    break;
                case OutputNode print:
                    output.AddRange(JinjaValues.Pieces(Eval(print.Value)));
                    break;
                case IfNode branch:
                    var taken = branch.Branches.FirstOrDefault(b => JinjaValues.Truthy(Eval(b.Condition)));
                    Run(taken.Body ?? branch.Else);
                    break;
                case ForNode loop:
                    For(loop);
                    break;
                case SetNode set when set.Attribute is null:
                    scopes[^1][set.Name] = Eval(set.Value);
                    break;
                case SetNode set:
                    if (Lookup(set.Name) is not Namespace ns)
                        throw new TemplateException($"'{set.Name}.{set.Attribute}' can be set only on a namespace().");
                    ns.Values[set.Attribute!] = Eval(set.Value);
                    break;
                case LoopControlNode control:
                    throw new LoopSignal(control.IsBreak);
            }
        }
    }

    void For(ForNode loop)
    {
        var items = Iterate(Eval(loop.Iterable)).ToList();
        if (loop.Filter is not null)
            items = items.Where(item => WithScope(() => { Bind(loop.Targets, item); return JinjaValues.Truthy(Eval(loop.Filter)); })).ToList();
        if (items.Count == 0)
        {
            Run(loop.Else);
            return;
        }
        for (var i = 0; i < items.Count; i++)
        {
            var info = new Dictionary<string, object?>
            {
                ["index"] = (long)(i + 1), ["index0"] = (long)i, ["first"] = i == 0, ["last"] = i == items.Count - 1,
                ["length"] = (long)items.Count, ["revindex"] = (long)(items.Count - i), ["revindex0"] = (long)(items.Count - i - 1),
                ["previtem"] = i > 0 ? items[i - 1] : Undefined.Instance,
                ["nextitem"] = i + 1 < items.Count ? items[i + 1] : Undefined.Instance,
            };
            var item = items[i];
            var stop = WithScope(() =>
            {
                scopes[^1]["loop"] = info;
                Bind(loop.Targets, item);
                try
                {
                    Run(loop.Body);
                }
                catch (LoopSignal signal)
                {
                    return signal.IsBreak;
                }
                return false;
            });
            if (stop)
                break;
        }
    }

    T WithScope<T>(Func<T> body)
    {
        scopes.Add(new Dictionary<string, object?>());
        try
        {
            return body();
        }
        finally
        {
            scopes.RemoveAt(scopes.Count - 1);
        }
    }

    void Bind(IReadOnlyList<string> targets, object? item)
    {
        if (targets.Count == 1)
        {
            scopes[^1][targets[0]] = item;
            return;
        }
        var parts = item as List<object?> ?? throw new TemplateException($"Cannot unpack '{JinjaValues.Str(item)}' into {targets.Count} names.");
        if (parts.Count != targets.Count)
            throw new TemplateException($"Cannot unpack {parts.Count} values into {targets.Count} names.");
        for (var i = 0; i < targets.Count; i++)
            scopes[^1][targets[i]] = parts[i];
    }

    static IEnumerable<object?> Iterate(object? value) => value switch
    {
        List<object?> list => list,
        Dictionary<string, object?> dict => dict.Keys,
        string s => s.Select(c => (object?)c.ToString()),
        PieceText p => p.ToString().Select(c => (object?)c.ToString()),
        null or Undefined => throw new TemplateException($"Cannot loop over {(value is null ? "none" : "an undefined value")}."),
        _ => throw new TemplateException($"Cannot loop over '{JinjaValues.Str(value)}'."),
    };

    object? Lookup(string name)
    {
        for (var i = scopes.Count - 1; i >= 0; i--)
            if (scopes[i].TryGetValue(name, out var value))
                return value;
        return Undefined.Instance;
    }

    object? Eval(Expr expression)
    {
        switch (expression)
        {
            case Literal literal: return literal.Value;
            case Variable variable: return Lookup(variable.Name);
            case ListExpr list: return list.Items.Select(Eval).ToList();
            case DictExpr dict: return dict.Items.ToDictionary(p => JinjaValues.Str(Eval(p.Key)), p => Eval(p.Value));
            case Attribute attribute: return Member(Eval(attribute.Target), attribute.Name);
            case Index index: return Item(Eval(index.Target), Eval(index.Key));
            case Slice slice: return SliceOf(Eval(slice.Target), slice.Start is null ? null : Eval(slice.Start), slice.Stop is null ? null : Eval(slice.Stop));
            case Conditional conditional:
                return JinjaValues.Truthy(Eval(conditional.Condition)) ? Eval(conditional.Then)
                    : conditional.Else is null ? Undefined.Instance : Eval(conditional.Else);
            case Unary { Operator: "not" } not: return !JinjaValues.Truthy(Eval(not.Operand));
            case Unary minus:
                return Eval(minus.Operand) switch
                {
                    long l => (object)(-l),
                    var v => -JinjaValues.ToDouble(v),
                };
            case Binary { Operator: "and" } and:
                var left = Eval(and.Left);
                return JinjaValues.Truthy(left) ? Eval(and.Right) : left;
            case Binary { Operator: "or" } or:
                var first = Eval(or.Left);
                return JinjaValues.Truthy(first) ? first : Eval(or.Right);
            case Binary binary: return JinjaOperations.Binary(binary.Operator, Eval(binary.Left), Eval(binary.Right));
            case Filter filter:
                return JinjaOperations.Filter(filter.Name, Eval(filter.Target), filter.Arguments.Select(Eval).ToList(),
                    filter.Named.ToDictionary(kv => kv.Key, kv => Eval(kv.Value)));
            case Test test:
                var passed = JinjaOperations.Test(test.Name, Eval(test.Target), test.Arguments.Select(Eval).ToList());
                return test.Negated ? !passed : passed;
            case Call call: return Invoke(call);
        }
        throw new TemplateException($"Cannot evaluate {expression.GetType().Name}.");
    }

    object? Invoke(Call call)
    {
        var arguments = call.Arguments.Select(Eval).ToList();
        var named = call.Named.ToDictionary(kv => kv.Key, kv => Eval(kv.Value));
        if (call.Target is Attribute method)
            return JinjaOperations.Method(Eval(method.Target), method.Name, arguments);
        return Eval(call.Target) switch
        {
            JinjaFunction function => function(arguments, named),
            var other => throw new TemplateException($"'{Describe(call.Target)}' is not a function ({JinjaValues.Str(other)})."),
        };
    }

    static string Describe(Expr expression) => expression is Variable v ? v.Name : expression.GetType().Name;

    static object? Member(object? target, string name) => target switch
    {
        Dictionary<string, object?> dict => dict.TryGetValue(name, out var value) ? value : Undefined.Instance,
        Namespace ns => ns.Values.TryGetValue(name, out var value) ? value : Undefined.Instance,
        null => throw new TemplateException($"None has no attribute '{name}'."),
        _ => Undefined.Instance,
    };

    static object? Item(object? target, object? key) => target switch
    {
        Dictionary<string, object?> dict => dict.TryGetValue(JinjaValues.Str(key), out var value) ? value : Undefined.Instance,
        Namespace ns => ns.Values.TryGetValue(JinjaValues.Str(key), out var value) ? value : Undefined.Instance,
        List<object?> list when key is long i => (i < 0 ? i + list.Count : i) is var at && at >= 0 && at < list.Count ? list[(int)at] : Undefined.Instance,
        string or PieceText when key is long i => JinjaValues.Str(target) is var s && (i < 0 ? i + s.Length : i) is var at && at >= 0 && at < s.Length
            ? JinjaValues.Derived(target, s[(int)at].ToString()) : Undefined.Instance,
        Undefined => throw new TemplateException($"Cannot index an undefined value with '{JinjaValues.Str(key)}'."),
        null => throw new TemplateException($"Cannot index None with '{JinjaValues.Str(key)}'."),
        _ => Undefined.Instance,
    };

    static object? SliceOf(object? target, object? start, object? stop)
    {
        int Bound(object? value, int length, int otherwise)
        {
            if (value is null) return otherwise;
            var i = value is long l ? (int)l : throw new TemplateException("Slice bounds must be integers.");
            return Math.Clamp(i < 0 ? i + length : i, 0, length);
        }
        switch (target)
        {
            case List<object?> list:
                var from = Bound(start, list.Count, 0);
                var to = Bound(stop, list.Count, list.Count);
                return to > from ? list.GetRange(from, to - from) : [];
            case string or PieceText:
                var s = JinjaValues.Str(target);
                var a = Bound(start, s.Length, 0);
                var b = Bound(stop, s.Length, s.Length);
                return JinjaValues.Derived(target, b > a ? s[a..b] : "");
            default:
                throw new TemplateException($"Cannot slice '{JinjaValues.Str(target)}'.");
        }
    }

    internal static string Number(double value) => value.ToString(CultureInfo.InvariantCulture);
}
