namespace SmbLayer.Protocol;

/// <summary>SMB2/3 dialect revision numbers as they appear on the wire (MS-SMB2 §2.2.3).</summary>
public enum SmbDialect : ushort
{
    Smb202 = 0x0202,
    Smb210 = 0x0210,
    Smb300 = 0x0300,
    Smb302 = 0x0302,
    Smb311 = 0x0311,
}

/// <summary>Helpers for dialect ranges and names.</summary>
public static class SmbDialects
{
    /// <summary>All dialects this client speaks, lowest first.</summary>
    public static readonly SmbDialect[] All =
        [SmbDialect.Smb202, SmbDialect.Smb210, SmbDialect.Smb300, SmbDialect.Smb302, SmbDialect.Smb311];

    /// <summary>True for the SMB 3.x family (AES-CMAC signing, SP800-108 key derivation).</summary>
    public static bool IsSmb3(this SmbDialect dialect) => dialect >= SmbDialect.Smb300;

    /// <summary>Dialects between <paramref name="min"/> and <paramref name="max"/>, highest first.</summary>
    public static SmbDialect[] Between(SmbDialect min, SmbDialect max)
    {
        if (min > max)
        {
            throw new ArgumentException($"Minimum dialect {ToDisplay(min)} is above maximum {ToDisplay(max)}.");
        }
        return All.Where(d => d >= min && d <= max).Reverse().ToArray();
    }

    /// <summary>"3.1.1" style name.</summary>
    public static string ToDisplay(this SmbDialect dialect) => dialect switch
    {
        SmbDialect.Smb202 => "2.0.2",
        SmbDialect.Smb210 => "2.1",
        SmbDialect.Smb300 => "3.0",
        SmbDialect.Smb302 => "3.0.2",
        SmbDialect.Smb311 => "3.1.1",
        _ => $"0x{(ushort)dialect:X4}",
    };

    /// <summary>Parses "2.0.2", "2.1", "3.0", "3.0.2", "3.1.1", also "SMB3_11" / "smb311" forms.</summary>
    public static bool TryParse(string text, out SmbDialect dialect)
    {
        var t = text.Trim().ToUpperInvariant().Replace("SMB", "", StringComparison.Ordinal).Replace("_", "", StringComparison.Ordinal).Replace(".", "", StringComparison.Ordinal);
        dialect = t switch
        {
            "202" or "2002" => SmbDialect.Smb202,
            "21" or "210" => SmbDialect.Smb210,
            "3" or "30" or "300" => SmbDialect.Smb300,
            "302" => SmbDialect.Smb302,
            "311" => SmbDialect.Smb311,
            _ => 0,
        };
        return dialect != 0;
    }
}
