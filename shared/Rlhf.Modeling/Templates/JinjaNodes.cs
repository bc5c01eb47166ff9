namespace Rlhf.Modeling.Templates;

abstract record Node;
sealed record TextNode(string Text) : Node;
sealed record OutputNode(Expr Value) : Node;
sealed record IfNode(IReadOnlyList<(Expr Condition, IReadOnlyList<Node> Body)> Branches, IReadOnlyList<Node> Else) : Node;
sealed record ForNode(IReadOnlyList<string> Targets, Expr Iterable, Expr? Filter, IReadOnlyList<Node> Body, IReadOnlyList<Node> Else) : Node;
sealed record SetNode(string Name, string? Attribute, Expr Value) : Node;
sealed record LoopControlNode(bool IsBreak) : Node;

abstract record Expr;
sealed record Literal(object? Value) : Expr;
sealed record Variable(string Name) : Expr;
sealed record ListExpr(IReadOnlyList<Expr> Items) : Expr;
sealed record DictExpr(IReadOnlyList<(Expr Key, Expr Value)> Items) : Expr;
sealed record Attribute(Expr Target, string Name) : Expr;
sealed record Index(Expr Target, Expr Key) : Expr;
sealed record Slice(Expr Target, Expr? Start, Expr? Stop) : Expr;
sealed record Call(Expr Target, IReadOnlyList<Expr> Arguments, IReadOnlyDictionary<string, Expr> Named) : Expr;
sealed record Filter(Expr Target, string Name, IReadOnlyList<Expr> Arguments, IReadOnlyDictionary<string, Expr> Named) : Expr;
sealed record Test(Expr Target, string Name, IReadOnlyList<Expr> Arguments, bool Negated) : Expr;
sealed record Unary(string Operator, Expr Operand) : Expr;
sealed record Binary(string Operator, Expr Left, Expr Right) : Expr;
sealed record Conditional(Expr Condition, Expr Then, Expr? Else) : Expr;
