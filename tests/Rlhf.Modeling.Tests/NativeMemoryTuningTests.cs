using System.Runtime.InteropServices;
using static TorchSharp.torch;

namespace Rlhf.Modeling.Tests;

public sealed class NativeMemoryTuningTests
{
    [StructLayout(LayoutKind.Sequential)]
    struct MallInfo2
    {
        public nuint Arena, OrdBlks, SmBlks, HBlks, HBlkHd, UsmBlks, FsmBlks, UordBlks, FordBlks, KeepCost;
    }

    [DllImport("libc", EntryPoint = "mallinfo2")]
    static extern MallInfo2 MallocInfo();

    [Fact]
    public void Loading_the_modeling_assembly_applies_the_malloc_settings()
    {
        Assert.SkipUnless(OperatingSystem.IsLinux(), "glibc only");
        Assert.Equal("glibc malloc: arena max 2, mmap threshold 128 KiB", NativeMemoryTuning.Applied);
    }

    [Fact]
    public void A_large_tensor_is_mmapped_and_returned_even_after_a_larger_one_was_freed()
    {
        Assert.SkipUnless(OperatingSystem.IsLinux(), "glibc only");
        _ = NativeMemoryTuning.Applied;
        // With glibc's dynamic threshold, freeing this 8 MiB block would raise the mmap threshold to 8 MiB, and the
        // 4 MiB tensor below would be carved from an arena that keeps its pages after the free.
        empty(2 * 1024 * 1024, dtype: float32).Dispose();

        var before = MallocInfo().HBlkHd;
        var tensor = empty(1024 * 1024, dtype: float32);
        var held = MallocInfo().HBlkHd;
        tensor.Dispose();
        var after = MallocInfo().HBlkHd;

        Assert.True(held >= before + 4 * 1024 * 1024, $"mmapped bytes {before} -> {held} while a 4 MiB tensor is alive");
        Assert.True(after <= held - 4 * 1024 * 1024, $"mmapped bytes {held} -> {after} after it was freed");
    }
}
