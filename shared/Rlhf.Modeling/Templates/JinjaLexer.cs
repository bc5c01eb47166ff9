using System.Globalization;
using System.Text;

namespace Rlhf.Modeling.Templates;

/// <summary>A template error: the message names the construct and where it is.</summary>
public sealed class TemplateException(string message) : Exception(message);

enum TokenKind { Name, String, Integer, Float, Operator }

readonly record struct Token(TokenKind Kind, string Text, int Position);

enum SegmentKind { Text, Output, Statement }

/// <summary>Template text, an <c>{{ expression }}</c> or a <c>{% statement %}</c>, with the tokens inside the tag.</summary>
sealed record Segment(SegmentKind Kind, string Text, IReadOnlyList<Token> Tokens, int Position);

/// <summary>
/// Splits a template into segments with Jinja2's whitespace rules as transformers configures them: trim_blocks (the
/// newline after a block or comment tag is dropped), lstrip_blocks (spaces and tabs before a block or comment tag at
/// the start of a line are dropped), <c>-</c> on either side strips all whitespace, and one trailing newline of the
/// template is dropped (keep_trailing_newline off).
/// </summary>
static class JinjaLexer
{
    static readonly string[] Operators = ["==", "!=", "<=", ">=", "//", "**", "<", ">", "+", "-", "*", "/", "%", "~", "|", ".", ",", ":", "(", ")", "[", "]", "{", "}", "="];

    public static List<Segment> Split(string source)
    {
        source = source.Replace("\r\n", "\n", StringComparison.Ordinal);
        if (source.EndsWith('\n'))
            source = source[..^1];
        var segments = new List<Segment>();
        var position = 0;
        var stripNextText = false;      // the previous tag ended with '-'
        var trimNextNewline = false;    // the previous tag was a block or comment (trim_blocks)
        while (position <= source.Length)
        {
            var open = NextTag(source, position);
            var textEnd = open < 0 ? source.Length : open;
            var text = source[position..textEnd];
            var textStart = position;
            if (stripNextText)
            {
                var trimmed = text.TrimStart();
                textStart += text.Length - trimmed.Length;
                text = trimmed;
            }
            else if (trimNextNewline && text.StartsWith('\n'))
            {
                text = text[1..];
                textStart++;
            }

            if (open >= 0)
            {
                var kind = source[open + 1];
                var modifier = open + 2 < source.Length ? source[open + 2] : '\0';
                if (modifier == '-')
                    text = text.TrimEnd();
                else if (kind is '%' or '#' && modifier != '+')
                {
                    // lstrip_blocks: only spaces/tabs between the line start and the tag.
                    var lineStart = text.LastIndexOf('\n') + 1;
                    var atLineStart = lineStart > 0 || textStart == 0 || source[textStart - 1] == '\n';
                    if (atLineStart && text[lineStart..].All(c => c is ' ' or '\t'))
                        text = text[..lineStart];
                }
            }
            if (text.Length > 0)
                segments.Add(new Segment(SegmentKind.Text, text, [], textStart));
            if (open < 0)
                break;

            var tagKind = source[open + 1];
            var inner = open + 2;
            if (inner < source.Length && source[inner] is '-' or '+')
                inner++;
            if (tagKind == '#')
            {
                var close = source.IndexOf("#}", inner, StringComparison.Ordinal);
                if (close < 0)
                    throw new TemplateException($"Comment opened at {open} is never closed.");
                stripNextText = source[close - 1] == '-' && close - 1 >= inner;
                trimNextNewline = true;
                position = close + 2;
                continue;
            }

            var (tokens, end, stripAfter) = Tokens(source, inner, tagKind == '%' ? "%}" : "}}", open);
            segments.Add(new Segment(tagKind == '%' ? SegmentKind.Statement : SegmentKind.Output, "", tokens, open));
            stripNextText = stripAfter;
            trimNextNewline = tagKind == '%';
            position = end;
        }
        return segments;
    }

    static int NextTag(string source, int from)
    {
        for (var i = source.IndexOf('{', from); i >= 0 && i + 1 < source.Length; i = source.IndexOf('{', i + 1))
            if (source[i + 1] is '{' or '%' or '#')
                return i;
        return -1;
    }

    static (List<Token> Tokens, int End, bool StripAfter) Tokens(string source, int position, string close, int open)
    {
        var tokens = new List<Token>();
        while (true)
        {
            while (position < source.Length && char.IsWhiteSpace(source[position]))
                position++;
            if (position >= source.Length)
                throw new TemplateException($"Tag opened at {open} is never closed with '{close}'.");
            if (string.CompareOrdinal(source, position, close, 0, close.Length) == 0)
                return (tokens, position + close.Length, false);
            if (source[position] is '-' or '+' && string.CompareOrdinal(source, position + 1, close, 0, close.Length) == 0)
                return (tokens, position + 1 + close.Length, source[position] == '-');

            var c = source[position];
            if (c is '\'' or '"')
            {
                var (value, next) = ReadString(source, position);
                tokens.Add(new Token(TokenKind.String, value, position));
                position = next;
            }
            else if (char.IsAsciiDigit(c))
            {
                var start = position;
                while (position < source.Length && (char.IsAsciiDigit(source[position]) || source[position] == '_')) position++;
                var isFloat = position + 1 < source.Length && source[position] == '.' && char.IsAsciiDigit(source[position + 1]);
                if (isFloat)
                {
                    position++;
                    while (position < source.Length && char.IsAsciiDigit(source[position])) position++;
                }
                tokens.Add(new Token(isFloat ? TokenKind.Float : TokenKind.Integer, source[start..position].Replace("_", ""), start));
            }
            else if (char.IsLetter(c) || c == '_')
            {
                var start = position;
                while (position < source.Length && (char.IsLetterOrDigit(source[position]) || source[position] == '_')) position++;
                tokens.Add(new Token(TokenKind.Name, source[start..position], start));
            }
            else
            {
                var op = Operators.FirstOrDefault(o => string.CompareOrdinal(source, position, o, 0, o.Length) == 0)
                    ?? throw new TemplateException($"Unexpected character '{c}' at {position}.");
                tokens.Add(new Token(TokenKind.Operator, op, position));
                position += op.Length;
            }
        }
    }

    /// <summary>A Python string literal with the escapes templates use.</summary>
    static (string Value, int Next) ReadString(string source, int position)
    {
        var quote = source[position];
        var builder = new StringBuilder();
        for (var i = position + 1; i < source.Length; i++)
        {
            var c = source[i];
            if (c == quote)
                return (builder.ToString(), i + 1);
            if (c != '\\' || i + 1 >= source.Length)
            {
                builder.Append(c);
                continue;
            }
            var e = source[++i];
            switch (e)
            {
                case 'n': builder.Append('\n'); break;
                case 't': builder.Append('\t'); break;
                case 'r': builder.Append('\r'); break;
                case '\\': builder.Append('\\'); break;
                case '\'': builder.Append('\''); break;
                case '"': builder.Append('"'); break;
                case 'u' when i + 4 < source.Length:
                    builder.Append((char)int.Parse(source.AsSpan(i + 1, 4), NumberStyles.HexNumber, CultureInfo.InvariantCulture));
                    i += 4;
                    break;
                default: builder.Append('\\').Append(e); break;
            }
        }
        throw new TemplateException($"String literal at {position} is never closed.");
    }
}
