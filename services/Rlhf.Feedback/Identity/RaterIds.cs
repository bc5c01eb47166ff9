using System.Globalization;
using System.Text;
using Rlhf.Hosting.Edge;

namespace Rlhf.Feedback.Identity;

/// <summary>
/// One rater, one id: a rater id is compared after Unicode NFKC normalization with every invisible character removed
/// (format characters such as zero-width spaces and joiners, the byte-order mark, soft hyphens, bidi controls,
/// variation selectors, tag characters, Hangul fillers) and surrounding white space trimmed, so
/// <c>alice</c>, <c>alice</c> + U+200B and the full-width <c>ａｌｉｃｅ</c> are one rater. Case is kept: ids come
/// from the client's user database, which may be case-sensitive.
/// </summary>
public static class RaterIds
{
    public const int MaxLength = 128;

    /// <summary>Raw ids longer than this are refused before normalizing (NFKC can expand a character up to 18 times).</summary>
    public const int MaxRawLength = 4 * MaxLength;

    /// <summary>
    /// The normalized id, or why there is none: 400 when nothing visible is left (or the text is not well-formed
    /// Unicode), 422 when it is too long.
    /// </summary>
    public static (string? RaterId, EdgeError? Problem) Normalize(string raw)
    {
        if (raw.Length > MaxRawLength)
            return (null, TooLong(raw.Length, ""));
        if (!IsWellFormed(raw))
            return (null, EdgeError.BadRequest("rater_id is not well-formed Unicode (a lone surrogate).", "rater_id"));
        var normalized = raw.Normalize(NormalizationForm.FormKC);
        var visible = new StringBuilder(normalized.Length);
        for (var i = 0; i < normalized.Length; i += char.IsSurrogatePair(normalized, i) ? 2 : 1)
        {
            var codePoint = char.ConvertToUtf32(normalized, i);
            if (!IsInvisible(codePoint))
                visible.Append(char.ConvertFromUtf32(codePoint));
        }

        var id = visible.ToString().Trim();
        if (id.Length == 0)
            return (null, EdgeError.BadRequest(string.IsNullOrWhiteSpace(raw)
                ? "rater_id must not be blank."
                : "rater_id holds only invisible characters; it must not be blank once normalized.", "rater_id"));
        return id.Length > MaxLength ? (null, TooLong(id.Length, id == raw ? "" : " once normalized")) : (id, null);
    }

    static EdgeError TooLong(int length, string when) =>
        Apis.FeedbackProblem.Invalid($"rater_id is {length} characters long{when}; at most {MaxLength} are allowed.");

    static bool IsWellFormed(string text)
    {
        for (var i = 0; i < text.Length; i++)
        {
            if (char.IsHighSurrogate(text[i]) && i + 1 < text.Length && char.IsLowSurrogate(text[i + 1]))
                i++;
            else if (char.IsSurrogate(text[i]))
                return false;
        }

        return true;
    }

    /// <summary>
    /// Unicode's Default_Ignorable_Code_Point set: nothing a reader can see. Control characters (tabs, new lines) are
    /// not removed but refused inside an id (<c>Fields.CheckRater</c>); at its ends they are trimmed as white space.
    /// </summary>
    static bool IsInvisible(int codePoint) =>
        CharUnicodeInfo.GetUnicodeCategory(codePoint) is UnicodeCategory.Format
        || codePoint is 0x034F or 0x115F or 0x1160 or 0x17B4 or 0x17B5 or 0x3164 or 0xFFA0
        || codePoint is >= 0x180B and <= 0x180F
        || codePoint is >= 0xFE00 and <= 0xFE0F
        || codePoint is >= 0xE0000 and <= 0xE0FFF;
}
