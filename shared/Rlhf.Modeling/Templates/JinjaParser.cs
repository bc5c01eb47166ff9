using System.Globalization;

namespace Rlhf.Modeling.Templates;

/// <summary>Recursive-descent parser for the Jinja subset chat templates use; anything else is a TemplateException naming it.</summary>
sealed class JinjaParser
{
    readonly List<Segment> segments;
    int segment;
    IReadOnlyList<Token> tokens = [];
    int at;

    JinjaParser(List<Segment> segments) => this.segments = segments;

    public static IReadOnlyList<Node> Parse(string source)
    {
        var parser = new JinjaParser(JinjaLexer.Split(source));
        var (body, end) = parser.Body();
        if (end is not null)
            throw new TemplateException($"Unexpected '{{% {end} %}}' with no block open.");
        return body;
    }

    /// <summary>Nodes up to an unmatched block keyword (returned, its segment consumed) or the end (null).</summary>
    (List<Node> Nodes, string? End) Body()
    {
        var nodes = new List<Node>();
        while (segment < segments.Count)
        {
            var current = segments[segment++];
            switch (current.Kind)
            {
                case SegmentKind.Text:
                    nodes.Add(new TextNode(current.Text));
                    break;
                case SegmentKind.Output:
                    Begin(current);
                    nodes.Add(new OutputNode(Expression()));
                    End();
                    break;
                default:
                    Begin(current);
                    var keyword = Name();
                    switch (keyword)
                    {
                        case "if": nodes.Add(If()); break;
                        case "for": nodes.Add(For()); break;
                        case "set": nodes.Add(Set()); break;
                        case "break" or "continue":
                            End();
                            nodes.Add(new LoopControlNode(keyword == "break"));
                            break;
                        case "generation" or "endgeneration":
                            End(); // transformers' assistant-mask marker; renders nothing itself
                            break;
                        case "elif" or "else" or "endif" or "endfor":
                            return (nodes, keyword);
                        default:
                            throw new TemplateException($"Statement '{{% {keyword} %}}' at {current.Position} is not supported.");
                    }
                    break;
            }
        }
        return (nodes, null);
    }

    Node If()
    {
        var branches = new List<(Expr, IReadOnlyList<Node>)>();
        var condition = Expression();
        End();
        while (true)
        {
            var (body, end) = Body();
            branches.Add((condition, body));
            switch (end)
            {
                case "elif":
                    condition = Expression();
                    End();
                    continue;
                case "else":
                    End();
                    var (otherwise, close) = Body();
                    if (close != "endif")
                        throw new TemplateException($"'{{% else %}}' of an if is closed by '{close ?? "the end of the template"}', expected endif.");
                    End();
                    return new IfNode(branches, otherwise);
                case "endif":
                    End();
                    return new IfNode(branches, []);
                default:
                    throw new TemplateException($"An if block is closed by '{end ?? "the end of the template"}', expected endif.");
            }
        }
    }

    Node For()
    {
        var targets = new List<string> { Name() };
        while (Accept(","))
            targets.Add(Name());
        if (Name() != "in")
            throw new TemplateException("Expected 'in' in a for statement.");
        var iterable = Or();  // not Expression(): a trailing 'if' filters the loop
        var filter = AcceptName("if") ? Or() : null;
        End();
        var (body, end) = Body();
        IReadOnlyList<Node> otherwise = [];
        if (end == "else")
        {
            End();
            (otherwise, end) = Body();
        }
        if (end != "endfor")
            throw new TemplateException($"A for block is closed by '{end ?? "the end of the template"}', expected endfor.");
        End();
        return new ForNode(targets, iterable, filter, body, otherwise);
    }

    Node Set()
    {
        var name = Name();
        string? attribute = null;
        if (Accept("."))
            attribute = Name();
        if (!Accept("="))
            throw new TemplateException("Block '{% set %}' (without '=') is not supported.");
        var value = Expression();
        End();
        return new SetNode(name, attribute, value);
    }

    Expr Expression()
    {
        var value = Or();
        if (!AcceptName("if"))
            return value;
        var condition = Or();
        var otherwise = AcceptName("else") ? Expression() : null;
        return new Conditional(condition, value, otherwise);
    }

    Expr Or()
    {
        var left = And();
        while (AcceptName("or"))
            left = new Binary("or", left, And());
        return left;
    }

    Expr And()
    {
        var left = Not();
        while (AcceptName("and"))
            left = new Binary("and", left, Not());
        return left;
    }

    Expr Not() => AcceptName("not") ? new Unary("not", Not()) : Compare();

    Expr Compare()
    {
        var left = Concat();
        while (true)
        {
            if (Peek() is { Kind: TokenKind.Operator, Text: "==" or "!=" or "<" or ">" or "<=" or ">=" } op)
            {
                at++;
                left = new Binary(op.Text, left, Concat());
            }
            else if (AcceptName("in"))
                left = new Binary("in", left, Concat());
            else if (Peek() is { Kind: TokenKind.Name, Text: "not" } && PeekAt(1) is { Kind: TokenKind.Name, Text: "in" })
            {
                at += 2;
                left = new Unary("not", new Binary("in", left, Concat()));
            }
            else
                return left;
        }
    }

    Expr Concat()
    {
        var left = Additive();
        while (Accept("~"))
            left = new Binary("~", left, Additive());
        return left;
    }

    Expr Additive()
    {
        var left = Multiplicative();
        while (Peek() is { Kind: TokenKind.Operator, Text: "+" or "-" } op)
        {
            at++;
            left = new Binary(op.Text, left, Multiplicative());
        }
        return left;
    }

    Expr Multiplicative()
    {
        var left = UnaryMinus();
        while (Peek() is { Kind: TokenKind.Operator, Text: "*" or "/" or "//" or "%" } op)
        {
            at++;
            left = new Binary(op.Text, left, UnaryMinus());
        }
        return left;
    }

    Expr UnaryMinus()
    {
        if (Accept("-"))
            return FilterChain(new Unary("-", UnaryMinus()));
        return FilterChain(Postfix(Primary()));
    }

    /// <summary>Filters and tests bind tighter than arithmetic: <c>a + b | trim</c> trims b.</summary>
    Expr FilterChain(Expr value)
    {
        while (true)
        {
            if (Accept("|"))
            {
                var name = Name();
                var (arguments, named) = Peek() is { Text: "(" } ? Arguments() : ([], new Dictionary<string, Expr>());
                value = Postfix(new Filter(value, name, arguments, named));
            }
            else if (AcceptName("is"))
            {
                var negated = AcceptName("not");
                var name = Name();
                var arguments = new List<Expr>();
                if (Peek() is { Text: "(" })
                    arguments.AddRange(Arguments().Positional);
                else if (Peek() is { Kind: TokenKind.String or TokenKind.Integer or TokenKind.Float })
                    arguments.Add(Primary());
                value = new Test(value, name, arguments, negated);
            }
            else
                return value;
        }
    }

    Expr Postfix(Expr value)
    {
        while (true)
        {
            if (Accept("."))
                value = new Attribute(value, Name());
            else if (Peek() is { Kind: TokenKind.Operator, Text: "[" })
            {
                at++;
                Expr? start = Peek() is { Text: ":" } ? null : Expression();
                if (Accept(":"))
                {
                    Expr? stop = Peek() is { Text: "]" } ? null : Expression();
                    Expect("]");
                    value = new Slice(value, start, stop);
                }
                else
                {
                    Expect("]");
                    value = new Index(value, start!);
                }
            }
            else if (Peek() is { Kind: TokenKind.Operator, Text: "(" })
            {
                var (arguments, named) = Arguments();
                value = new Call(value, arguments, named);
            }
            else
                return value;
        }
    }

    (List<Expr> Positional, Dictionary<string, Expr> Named) Arguments()
    {
        Expect("(");
        var positional = new List<Expr>();
        var named = new Dictionary<string, Expr>();
        while (!Accept(")"))
        {
            if (Peek() is { Kind: TokenKind.Name } name && PeekAt(1) is { Kind: TokenKind.Operator, Text: "=" })
            {
                at += 2;
                named[name.Text] = Expression();
            }
            else
                positional.Add(Expression());
            if (!Accept(","))
            {
                Expect(")");
                break;
            }
        }
        return (positional, named);
    }

    Expr Primary()
    {
        var token = Peek() ?? throw new TemplateException($"Expression ends early at {Position()}.");
        at++;
        switch (token.Kind)
        {
            case TokenKind.String:
                var text = token.Text;
                while (Peek() is { Kind: TokenKind.String } next)  // adjacent literals concatenate
                {
                    text += next.Text;
                    at++;
                }
                return new Literal(text);
            case TokenKind.Integer:
                return new Literal(long.Parse(token.Text, CultureInfo.InvariantCulture));
            case TokenKind.Float:
                return new Literal(double.Parse(token.Text, CultureInfo.InvariantCulture));
            case TokenKind.Name:
                return token.Text switch
                {
                    "true" or "True" => new Literal(true),
                    "false" or "False" => new Literal(false),
                    "none" or "None" => new Literal(null),
                    _ => new Variable(token.Text),
                };
        }
        switch (token.Text)
        {
            case "(":
                var inner = Expression();
                if (Accept(","))
                {
                    var items = new List<Expr> { inner };
                    while (!Accept(")"))
                    {
                        items.Add(Expression());
                        if (!Accept(",")) { Expect(")"); break; }
                    }
                    return new ListExpr(items);
                }
                Expect(")");
                return inner;
            case "[":
                var list = new List<Expr>();
                while (!Accept("]"))
                {
                    list.Add(Expression());
                    if (!Accept(",")) { Expect("]"); break; }
                }
                return new ListExpr(list);
            case "{":
                var pairs = new List<(Expr, Expr)>();
                while (!Accept("}"))
                {
                    var key = Expression();
                    Expect(":");
                    pairs.Add((key, Expression()));
                    if (!Accept(",")) { Expect("}"); break; }
                }
                return new DictExpr(pairs);
        }
        throw new TemplateException($"Unexpected '{token.Text}' at {token.Position}.");
    }

    void Begin(Segment current)
    {
        tokens = current.Tokens;
        at = 0;
        if (tokens.Count == 0)
            throw new TemplateException($"Empty tag at {current.Position}.");
    }

    void End()
    {
        if (at < tokens.Count)
            throw new TemplateException($"Unexpected '{tokens[at].Text}' at {tokens[at].Position}.");
    }

    Token? Peek() => at < tokens.Count ? tokens[at] : null;
    Token? PeekAt(int offset) => at + offset < tokens.Count ? tokens[at + offset] : null;
    int Position() => tokens.Count > 0 ? tokens[^1].Position : 0;

    bool Accept(string op)
    {
        if (Peek() is not { Kind: TokenKind.Operator } token || token.Text != op)
            return false;
        at++;
        return true;
    }

    bool AcceptName(string name)
    {
        if (Peek() is not { Kind: TokenKind.Name } token || token.Text != name)
            return false;
        at++;
        return true;
    }

    void Expect(string op)
    {
        if (!Accept(op))
            throw new TemplateException($"Expected '{op}' at {Peek()?.Position ?? Position()}, found '{Peek()?.Text ?? "the end of the tag"}'.");
    }

    string Name() => Peek() is { Kind: TokenKind.Name } token
        ? tokens[at++].Text
        : throw new TemplateException($"Expected a name at {Peek()?.Position ?? Position()}, found '{Peek()?.Text ?? "the end of the tag"}'.");
}
