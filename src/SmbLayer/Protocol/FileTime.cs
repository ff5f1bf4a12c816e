namespace SmbLayer.Protocol;

/// <summary>
/// FILETIME conversions (MS-DTYP §2.3.3): a 64-bit count of 100-ns intervals since
/// 1601-01-01 UTC. On the wire 0 means "no time" (and, in SET_INFO, "do not change"),
/// which maps to <see cref="DateTimeOffset.MinValue"/>.
/// </summary>
internal static class FileTime
{
    /// <summary>FILETIME 0: not set / leave unchanged.</summary>
    public const ulong None = 0;

    private static readonly long EpochTicks = new DateTime(1601, 1, 1, 0, 0, 0, DateTimeKind.Utc).Ticks;
    private static readonly ulong MaxFileTime = (ulong)(DateTime.MaxValue.Ticks - EpochTicks);

    /// <summary>Converts to UTC; 0 gives <see cref="DateTimeOffset.MinValue"/>, values past year 9999 clamp to <see cref="DateTimeOffset.MaxValue"/>.</summary>
    public static DateTimeOffset ToDateTimeOffset(ulong fileTime)
    {
        if (fileTime == None)
        {
            return DateTimeOffset.MinValue;
        }
        if (fileTime > MaxFileTime)
        {
            return DateTimeOffset.MaxValue;
        }
        return new DateTimeOffset(EpochTicks + (long)fileTime, TimeSpan.Zero);
    }

    /// <summary>Converts to FILETIME; <see cref="DateTimeOffset.MinValue"/> and anything before 1601 give 0.</summary>
    public static ulong FromDateTimeOffset(DateTimeOffset value)
    {
        var ticks = value.UtcTicks - EpochTicks;
        return ticks <= 0 ? None : (ulong)ticks;
    }
}
