using System.Globalization;
using System.Text;

namespace Rlhf.Modeling.Templates;

/// <summary>Python's <c>datetime.strftime</c> for the directives chat templates use (C locale).</summary>
static class Strftime
{
    public static string Format(DateTime time, string format)
    {
        var builder = new StringBuilder();
        var invariant = CultureInfo.InvariantCulture;
        for (var i = 0; i < format.Length; i++)
        {
            if (format[i] != '%' || i + 1 >= format.Length)
            {
                builder.Append(format[i]);
                continue;
            }
            var directive = format[++i];
            builder.Append(directive switch
            {
                'd' => time.ToString("dd", invariant),
                'm' => time.ToString("MM", invariant),
                'Y' => time.ToString("yyyy", invariant),
                'y' => time.ToString("yy", invariant),
                'b' => time.ToString("MMM", invariant),
                'B' => time.ToString("MMMM", invariant),
                'a' => time.ToString("ddd", invariant),
                'A' => time.ToString("dddd", invariant),
                'H' => time.ToString("HH", invariant),
                'M' => time.ToString("mm", invariant),
                'S' => time.ToString("ss", invariant),
                'j' => time.DayOfYear.ToString("000", invariant),
                '%' => "%",
                _ => throw new TemplateException($"strftime directive '%{directive}' is not supported."),
            });
        }
        return builder.ToString();
    }
}
