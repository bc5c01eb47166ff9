using System.ComponentModel.DataAnnotations;

namespace Rlhf.Training;

static class OptionsValidation
{
    /// <summary>
    /// Checks the data annotations of an options record and of its nested records (as ValidateDataAnnotations does
    /// at host start); one exception lists every failure, nested ones prefixed with their property name.
    /// </summary>
    public static void ThrowIfInvalid(object options, params (string Name, object Value)[] nested)
    {
        var errors = Errors(options, prefix: "")
            .Concat(nested.SelectMany(n => Errors(n.Value, n.Name + ".")))
            .ToList();
        if (errors.Count > 0)
            throw new ArgumentException($"Invalid {options.GetType().Name}: " + string.Join("; ", errors));
    }

    static IEnumerable<string> Errors(object options, string prefix)
    {
        var results = new List<ValidationResult>();
        Validator.TryValidateObject(options, new ValidationContext(options), results, validateAllProperties: true);
        return results.Select(r => prefix + r.ErrorMessage);
    }
}
