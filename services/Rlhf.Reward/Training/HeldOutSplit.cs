using System.Security.Cryptography;
using System.Text;

namespace Rlhf.Reward.Training;

/// <summary>Decides, stably across processes and restarts, whether a group's feedback is held out.</summary>
public static class HeldOutSplit
{
    public static bool IsHeldOut(string groupId, double share)
    {
        if (share <= 0) return false;
        var hash = SHA256.HashData(Encoding.UTF8.GetBytes(groupId));
        var bucket = BitConverter.ToUInt32(hash, 0) / (double)uint.MaxValue;
        return bucket < share;
    }
}
